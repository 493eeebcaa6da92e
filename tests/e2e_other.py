# e2e_other.py - what the plain scripts of tests/e2e_check_model.sh
# share: changes by a process of another tree (setsid: its parent is not
# the caller, so none of the caller's bases are its, and none of its are
# the caller's), and a call's outcome in words.
import subprocess


def other(cmd):
    """Run shell @cmd in another session and wait for it: its exit
    status."""
    return subprocess.run(["setsid", "-w", "sh", "-c", cmd]).returncode


def theirs(name, version, text):
    """Another tree declares @version of @name, then writes @text over
    it (a save on that basis)."""
    subprocess.run(["setsid", "-w", "sh", "-c",
                    'setfattr -n user.expected_version -v "$1" "$2" && '
                    'printf %s "$3" > "$2"', "sh", str(version), name, text],
                   check=True)


def attempt(fn):
    """Call fn: "ok", or the strerror of the errno it failed with."""
    try:
        fn()
        return "ok"
    except OSError as e:
        return e.strerror
