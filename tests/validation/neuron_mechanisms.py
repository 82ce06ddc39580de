"""Builds and loads the NMODL files in tests/validation/mod/ for the
validation scripts (the CA1 channels, and the book's alpha, GSyn and AMPA_S
synapses), once per process."""
import glob
import os
import shutil
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
_loaded = False


def load(h):
    global _loaded
    if _loaded:
        return
    work = tempfile.mkdtemp(prefix="dynclamp-mod-")
    for mod in glob.glob(os.path.join(HERE, "mod", "*.mod")):
        shutil.copy(mod, work)
    env = dict(os.environ)
    if not os.path.exists("/usr/bin/nrnmech_makefile") and os.path.exists(
            "/usr/lib/nrn/nrnmech_makefile"):
        # Debian's nrnivmodl looks for its makefile and libnrniv.so beside
        # its binaries; point it at a prefix where they are.
        home = os.path.join(work, "nrnhome")
        os.makedirs(os.path.join(home, "bin"))
        os.makedirs(os.path.join(home, "share"))
        for tool in ("nocmodl", "modlunit", "nrniv"):
            if os.path.exists(f"/usr/bin/{tool}"):
                os.symlink(f"/usr/bin/{tool}", os.path.join(home, "bin", tool))
        os.symlink("/usr/lib/nrn/nrnmech_makefile",
                   os.path.join(home, "bin", "nrnmech_makefile"))
        os.symlink("/usr/lib/nrn", os.path.join(home, "lib"))
        os.symlink("/usr/share/nrn", os.path.join(home, "share", "nrn"))
        os.symlink("/usr/include", os.path.join(home, "include"))
        env["NRNHOME"] = home
    # The mechanism library is all we need; on Debian the optional `special`
    # executable fails to build afterwards, so judge by the library.
    run = subprocess.run(["nrnivmodl"], cwd=work, env=env,
                         capture_output=True, text=True)
    lib = os.path.join(work, "x86_64", "libnrnmech.so")
    if not os.path.exists(lib):
        raise RuntimeError("nrnivmodl did not build the mechanisms:\n" +
                           run.stdout[-3000:] + run.stderr[-3000:])
    h.nrn_load_dll(lib)
    _loaded = True
