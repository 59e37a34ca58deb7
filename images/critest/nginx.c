/* A stand-in for nginx in critest's images: PID 1 named "nginx" whose command
 * line reads "nginx: master process ...", its pid in /var/run/nginx.pid, and
 * a busybox httpd child serving NGINX_ROOT on NGINX_PORT. SIGTERM/SIGINT/SIGQUIT
 * stop the child and exit 0; the child's exit ends the master with its status. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t child;

static void stop(int sig) {
    (void)sig;
    if (child > 0) kill(child, SIGTERM);
    _exit(0);
}

static void set_title(int argc, char **argv, const char *title) {
    char *end = argv[argc - 1] + strlen(argv[argc - 1]);
    size_t room = (size_t)(end - argv[0]);
    memset(argv[0], 0, room);
    strncpy(argv[0], title, room);
}

int main(int argc, char **argv) {
    const char *port = getenv("NGINX_PORT") ? getenv("NGINX_PORT") : "80";
    const char *root = getenv("NGINX_ROOT") ? getenv("NGINX_ROOT") : "/usr/share/nginx/html";
    FILE *pid = fopen("/var/run/nginx.pid", "w");
    if (pid) { fprintf(pid, "%d\n", (int)getpid()); fclose(pid); }
    signal(SIGTERM, stop);
    signal(SIGINT, stop);
    signal(SIGQUIT, stop);
    pid_t forked = fork();
    if (forked == 0) {
        execl("/bin/busybox", "httpd", "-f", "-p", port, "-h", root, (char *)NULL);
        perror("exec busybox httpd");
        _exit(127);
    }
    child = forked;
    set_title(argc, argv, "nginx: master process nginx");
    int status = 0;
    while (waitpid(forked, &status, 0) < 0) {}
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
