/*
 * Infra ("pause") process for pod sandboxes.
 *
 * It holds the sandbox's namespaces open and does nothing else. As PID 1 of
 * the pod it must:
 *   - exit promptly on SIGTERM/SIGINT: the kernel drops signals that PID 1
 *     has no handler for, and every sandbox stop would otherwise wait out the
 *     whole grace period before SIGKILL;
 *   - reap zombies, since with a shared PID namespace orphans are
 *     re-parented to it.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_terminate(int signo) {
    (void)signo;
    _exit(0);
}

static void on_child(int signo) {
    (void)signo;
    int saved = errno;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    errno = saved;
}

static void install(int signo, void (*handler)(int)) {
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = handler;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    sigaction(signo, &action, NULL);
}

int main(void) {
    install(SIGTERM, on_terminate);
    install(SIGINT, on_terminate);
    install(SIGCHLD, on_child);
    for (;;) {
        pause();
    }
    return 0;
}
