import platform

from kgplatform.heap import return_large_frees, trim


def test_on_glibc_the_thresholds_are_fixed_and_trim_runs():
    fixed = return_large_frees()
    if platform.libc_ver()[0] != "glibc":
        assert fixed is False
        return
    assert fixed is True
    assert trim() in (True, False)
    assert return_large_frees() is True  # once per process: a second call changes nothing
