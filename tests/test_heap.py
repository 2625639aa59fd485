import platform

from kgplatform.heap import return_large_frees


def test_on_glibc_the_thresholds_are_fixed():
    fixed = return_large_frees()
    if platform.libc_ver()[0] != "glibc":
        assert fixed is False
        return
    assert fixed is True
    assert return_large_frees() is True  # once per process: a second call changes nothing
