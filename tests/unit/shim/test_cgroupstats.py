"""Reading cgroup v1/v2 and net/dev texts into figures."""

from __future__ import annotations

from shim.monitor import cgroupstats

V1_STAT = (
    "cache 8192\nrss 4096\ntotal_rss 114688\ntotal_pgfault 1032\n"
    "total_pgmajfault 3\ntotal_inactive_file 4096\n"
)
V2_STAT = "anon 20480\nfile 8192\ninactive_file 8192\npgfault 77\npgmajfault 1\n"


def test_v1_sample() -> None:
    sample = cgroupstats.sample(
        1,
        {
            "cpu": "17527764\n",
            "memory_usage": "212992\n",
            "memory_limit": "9223372036854771712\n",
            "memory_stat": V1_STAT,
            "pids": "2\n",
        },
    )
    assert sample.cpu_ns == 17527764
    assert sample.memory_usage == 212992
    assert sample.working_set == 212992 - 4096
    assert sample.available is None  # unlimited
    assert (sample.rss, sample.page_faults, sample.major_page_faults) == (114688, 1032, 3)
    assert sample.processes == 2


def test_v2_sample_with_a_limit() -> None:
    sample = cgroupstats.sample(
        2,
        {
            "cpu": "usage_usec 1500\nuser_usec 1000\n",
            "memory_usage": "40960",
            "memory_limit": "1048576",
            "memory_stat": V2_STAT,
            "pids": "3",
        },
    )
    assert sample.cpu_ns == 1_500_000
    assert sample.working_set == 40960 - 8192
    assert sample.available == 1048576 - (40960 - 8192)
    assert (sample.rss, sample.page_faults, sample.major_page_faults) == (20480, 77, 1)
    assert cgroupstats.sample(2, {"memory_limit": "max", "memory_usage": "1"}).available is None


def test_missing_files_give_no_figures() -> None:
    sample = cgroupstats.sample(1, {"cpu": None, "memory_usage": "garbage"})
    assert sample == cgroupstats.CgroupSample()


def test_working_set_never_goes_negative() -> None:
    sample = cgroupstats.sample(
        1, {"memory_usage": "100", "memory_stat": "total_inactive_file 500"}
    )
    assert sample.working_set == 0


def test_nano_cores_from_two_samples() -> None:
    assert cgroupstats.nano_cores(None, (10, 5)) is None
    # half a core: 0.5 s of CPU over 1 s.
    assert cgroupstats.nano_cores((0, 0), (1_000_000_000, 500_000_000)) == 500_000_000
    assert cgroupstats.nano_cores((5, 0), (5, 10)) is None
    assert cgroupstats.nano_cores((0, 10), (1, 5)) is None


def test_cgroup_paths_for_both_drivers() -> None:
    assert cgroupstats.cgroup_dir("cgroupfs", "", "abc") == "/docker/abc"
    assert cgroupstats.cgroup_dir("cgroupfs", "/kubepods/pod1/", "abc") == "/kubepods/pod1/abc"
    assert cgroupstats.cgroup_dir("systemd", "", "abc") == "/system.slice/docker-abc.scope"
    assert (
        cgroupstats.cgroup_dir("systemd", "kubepods-besteffort-pod1.slice", "abc")
        == "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice"
        "/docker-abc.scope"
    )
    v1 = cgroupstats.cgroup_files("/sys/fs/cgroup", 1, "/docker/abc")
    assert v1["cpu"] == "/sys/fs/cgroup/cpuacct/docker/abc/cpuacct.usage"
    v2 = cgroupstats.cgroup_files("/sys/fs/cgroup", 2, "/docker/abc")
    assert v2["memory_stat"] == "/sys/fs/cgroup/docker/abc/memory.stat"


NET_DEV = """Inter-| Receive | Transmit
 face |bytes packets errs drop fifo frame compressed multicast|bytes packets ...
 lo: 100 1 0 0 0 0 0 0 100 1 0 0 0 0 0 0
 eth0: 1256 16 2 0 0 0 0 0 342 4 1 0 0 0 0 0
"""


def test_net_dev_leaves_loopback_out() -> None:
    (eth0,) = cgroupstats.net_dev(NET_DEV)
    assert eth0 == cgroupstats.InterfaceSample("eth0", 1256, 2, 342, 1)
    assert cgroupstats.net_dev("junk") == []
