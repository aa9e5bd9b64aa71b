"""Fuzz ``medseg.io.load`` with damaged DICOM (and volume) files, each case in a forked child.

Seeds (built in a temporary folder, never committed): a phantom CT series, the same in JPEG 2000,
an Enhanced multi-frame phantom, slices copied from the real series in ``../shared/data`` (JPEG
2000 abdomen, uncompressed chest, head with tilt) and the phantom as NRRD and NIfTI. A case takes
one seed, replaces one of its files by a mutated copy (byte flips, truncations, insertions,
deletions, duplications; one to three of them) and loads the folder or the file.

Each case runs in a child process forked for it, with an address-space limit (RLIMIT_AS) and a
timeout; medseg's own limits are lowered (MEDSEG_MAX_BYTES) so that they, not RLIMIT_AS, refuse
big inputs. A case passes when the load returns a truthful image (finite spacing > 0, finite
origin, orthonormal direction, finite voxels) or raises :class:`~medseg.errors.MedSegError`.
It fails on any other exception, a signal (crash, abort), a hang, or a peak RSS over the limit.

Engines:

- ``seeded`` (default): a seeded random mutator; the same ``--seed`` gives the same cases.
- ``atheris``: libFuzzer's coverage-guided mutations (atheris). Every input first runs in a
  forked child with the limits above; only inputs that passed there are run again in-process,
  so that libFuzzer sees their coverage. The first byte of an input picks the seed and slot.

A failing case is minimised (mutations dropped and shrunk while it still fails) and printed as a
``Case(...)`` line to paste into :mod:`fuzz_regressions`, which the tests replay.

    python Testing/robustness/fuzz.py --cases 10000 [--engine seeded|atheris] [--jobs 2] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import select
import shutil
import signal
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SHARED = (REPO / ".." / "shared" / "data").resolve()
sys.path.insert(0, str(REPO / "MedSegModule"))
sys.path.insert(0, str(HERE))

#: Outcomes of one case; the first two pass.
LOADED, REFUSED, ESCAPED, LIED, SIGNALLED, HUNG, MEMORY = "loaded", "refused", "exception", "lie", "signal", "hang", "rss"
PASSING = (LOADED, REFUSED)

#: Limits of a child: address space on top of what the parent already maps, peak RSS, seconds.
EXTRA_AS = 2 * 2 ** 30
MAX_RSS = 2 * 2 ** 30
TIMEOUT_S = 30
#: medseg's own per-array limit in the children, well under EXTRA_AS so that it refuses first.
CHILD_MAX_BYTES = "256M"
MUTATIONS = ("flip", "truncate", "insert", "delete", "duplicate")


@dataclass(frozen=True)
class Case:
    """One fuzz case: the seed, the file in it to damage, the mutations (in order), how to load."""

    seed: str
    slot: int
    mutations: tuple = ()
    load_file: bool = False

    def __str__(self) -> str:
        return f"Case({self.seed!r}, {self.slot}, {self.mutations!r}, load_file={self.load_file})"


@dataclass
class Result:
    case: Case
    outcome: str
    detail: str = ""
    rss: int = 0
    seconds: float = 0.0


# --- seeds -------------------------------------------------------------------------------------

def _copy_real(name: str, count: int, dest: Path) -> list[Path] | None:
    src = SHARED / name / "dicom"
    if not src.is_dir():
        return None
    import pydicom

    placed = []
    for f in sorted(p for p in src.rglob("*") if p.is_file()):
        try:
            placed.append((float(pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient[2]), f))
        except Exception:  # noqa: BLE001
            continue
    placed.sort()
    first = max(0, (len(placed) - count) // 2)
    dest.mkdir(parents=True)
    out = []
    for k, (_z, f) in enumerate(placed[first:first + count]):
        shutil.copyfile(f, dest / f"S{k:03d}.dcm")
        out.append(dest / f"S{k:03d}.dcm")
    return out


def build_seeds(root: Path) -> dict[str, list[Path]]:
    """The seed inputs by name: each a folder's files in order (the volume seeds: one file)."""
    import numpy as np
    import SimpleITK as sitk

    from medseg.phantom.dicom_codecs import encoder_missing
    from medseg.phantom.dicom_writer import write_ct_series
    from medseg.phantom.dicom_enhanced import write_enhanced_ct
    seeds: dict[str, list[Path]] = {}
    hu = np.full((4, 32, 32), -1000, dtype=np.int16)
    hu[:, 8:24, 8:24] = 40
    hu[:, 14:18, 14:18] = 700
    seeds["phantom"] = write_ct_series(hu, (2.0, 1.0, 1.0), (0.0, 0.0, 0.0), root / "phantom")
    if encoder_missing("1.2.840.10008.1.2.4.90") is None:
        seeds["phantom-j2k"] = write_ct_series(hu, (2.0, 1.0, 1.0), (0.0, 0.0, 0.0), root / "phantom-j2k",
                                               transfer_syntax="1.2.840.10008.1.2.4.90")
    seeds["phantom-multiframe"] = [write_enhanced_ct(hu, (2.0, 1.0, 1.0), (0.0, 0.0, 0.0),
                                                     root / "phantom-multiframe" / "e.dcm")]
    for name, real, count in (("real-abdomen-j2k", "ct-abdomen-20", 2), ("real-chest", "ct-chest-2", 2),
                              ("real-head-tilt", "ct-head-tilt-28", 2), ("real-head-64", "ct-head-93", 3)):
        files = _copy_real(real, count, root / name)
        if files:
            seeds[name] = files
    image = sitk.GetImageFromArray(hu.astype(np.int16))
    image.SetSpacing((1.0, 1.0, 2.0))
    for suffix in (".nrrd", ".nii.gz"):
        (root / f"volume{suffix}").mkdir()
        path = root / f"volume{suffix}" / f"ct{suffix}"
        sitk.WriteImage(image, str(path), useCompression=True)
        seeds[f"volume{suffix}"] = [path]
    return seeds


# --- mutations ---------------------------------------------------------------------------------

def apply(data: bytes, mutations) -> bytes:
    """``data`` with ``mutations`` applied in order (offsets are clamped to the current length)."""
    buf = bytearray(data)
    for m in mutations:
        kind = m[0]
        n = len(buf)
        if kind == "flip" and n:
            buf[m[1] % n] ^= m[2] or 1
        elif kind == "truncate":
            del buf[min(m[1], n):]
        elif kind == "insert":
            at = min(m[1], n)
            buf[at:at] = bytes.fromhex(m[2])
        elif kind == "delete":
            at = min(m[1], n)
            del buf[at:at + m[2]]
        elif kind == "duplicate" and n:
            at = min(m[1], n)
            buf[min(m[3], n):min(m[3], n)] = buf[at:at + m[2]]
    return bytes(buf)


def _offset(rng: random.Random, n: int) -> int:
    # Headers are where parsers decide; half the offsets land in the first 2 KB.
    return rng.randrange(min(n, 2048)) if rng.random() < 0.5 or n <= 2048 else rng.randrange(n)


def random_mutations(rng: random.Random, n: int) -> tuple:
    out = []
    for _ in range(rng.choice((1, 1, 2, 3))):
        kind = rng.choice(MUTATIONS)
        n = max(n, 1)
        if kind == "flip":
            out.append(("flip", _offset(rng, n), 1 << rng.randrange(8) if rng.random() < 0.7 else rng.randrange(1, 256)))
        elif kind == "truncate":
            out.append(("truncate", _offset(rng, n) if rng.random() < 0.3 else rng.randrange(n)))
        elif kind == "insert":
            size = rng.choice((1, 2, 4, 8, 64))
            out.append(("insert", _offset(rng, n), bytes(rng.randrange(256) for _ in range(size)).hex()))
        elif kind == "delete":
            out.append(("delete", _offset(rng, n), rng.choice((1, 2, 4, 16, 256))))
        else:
            out.append(("duplicate", _offset(rng, n), rng.choice((4, 16, 128, 1024)), _offset(rng, n)))
    return tuple(out)


def random_case(rng: random.Random, seeds: dict[str, list[Path]]) -> Case:
    name = rng.choice(sorted(seeds))
    files = seeds[name]
    slot = rng.randrange(len(files))
    return Case(name, slot, random_mutations(rng, files[slot].stat().st_size), load_file=rng.random() < 0.15)


# --- running one case in a child -------------------------------------------------------------

def _vm_size() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 2 ** 31


def _truthful(image) -> str | None:
    """Why a loaded image would be a lie (impossible geometry or values), or None."""
    import numpy as np
    import SimpleITK as sitk

    spacing, origin = np.asarray(image.GetSpacing()), np.asarray(image.GetOrigin())
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    if not (np.all(np.isfinite(spacing)) and np.all(spacing > 0)):
        return f"spacing {spacing}"
    if not np.all(np.isfinite(origin)):
        return f"origin {origin}"
    if not np.allclose(direction.T @ direction, np.eye(3), atol=1e-4):
        return f"direction {direction.ravel()}"
    arr = sitk.GetArrayViewFromImage(image)
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        return "non-finite voxel values"
    return None


def _child(target: Path, write_fd: int, as_limit: int) -> None:
    """In the forked child: limits, then load ``target``; the exit code says the outcome."""
    code, text = 2, ""
    try:
        resource.setrlimit(resource.RLIMIT_AS, (as_limit, as_limit))
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(TIMEOUT_S)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)  # C libraries' messages: not this report's business
        import faulthandler

        faulthandler.disable()  # a crash is reported by the parent, from the signal
        import warnings

        warnings.simplefilter("ignore")
        from medseg.errors import MedSegError
        from medseg.io import load

        try:
            image, meta = load(target)
            lie = _truthful(image)
            code, text = (3, lie) if lie else (0, "")
        except MedSegError as exc:
            code, text = 1, str(exc)[:300]
        except BaseException as exc:  # noqa: BLE001 (the whole point: report it)
            code, text = 2, "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-4000:]
    finally:
        try:
            os.write(write_fd, text.encode("utf-8", "replace")[:60000])
        finally:
            os._exit(code)


def run_in_child(target: Path) -> tuple[str, str, int]:
    """(outcome, detail, peak RSS in bytes) of loading ``target`` in a forked, limited child."""
    read_fd, write_fd = os.pipe()
    as_limit = _vm_size() + EXTRA_AS
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child(target, write_fd, as_limit)
    os.close(write_fd)
    chunks, deadline = [], time.time() + TIMEOUT_S + 15
    while True:
        ready, _, _ = select.select([read_fd], [], [], max(0.0, deadline - time.time()))
        if not ready:
            os.kill(pid, signal.SIGKILL)
            break
        chunk = os.read(read_fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_fd)
    _, status, usage = os.wait4(pid, 0)
    detail = b"".join(chunks).decode("utf-8", "replace")
    rss = usage.ru_maxrss * 1024
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGALRM or (sig == signal.SIGKILL and time.time() >= deadline):
            return HUNG, f"no result after {TIMEOUT_S} s", rss
        return SIGNALLED, f"killed by {signal.Signals(sig).name}", rss
    code = os.WEXITSTATUS(status)
    if rss > MAX_RSS:
        return MEMORY, f"peak RSS {rss / 2 ** 20:.0f} MiB over {MAX_RSS / 2 ** 20:.0f} MiB", rss
    return {0: LOADED, 1: REFUSED, 3: LIED}.get(code, ESCAPED), detail, rss


def materialise(case: Case, seeds: dict[str, list[Path]], work: Path) -> Path:
    """Write the case's input into ``work`` (emptied first); returns what to load."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    files = seeds[case.seed]
    for k, f in enumerate(files):
        data = f.read_bytes()
        (work / f.name).write_bytes(apply(data, case.mutations) if k == case.slot else data)
    return work / files[case.slot].name if case.load_file or len(files) == 1 else work


def run_case(case: Case, seeds, work: Path) -> Result:
    t0 = time.time()
    outcome, detail, rss = run_in_child(materialise(case, seeds, work))
    return Result(case, outcome, detail, rss, time.time() - t0)


def minimise(case: Case, seeds, work: Path, outcome: str) -> Case:
    """Drop mutations, then shrink what is left, while the case still gives ``outcome``."""
    def still(c: Case) -> bool:
        return run_case(c, seeds, work).outcome == outcome

    muts = list(case.mutations)
    i = 0
    while i < len(muts) and len(muts) > 1:
        trial = Case(case.seed, case.slot, tuple(muts[:i] + muts[i + 1:]), case.load_file)
        if still(trial):
            muts.pop(i)
        else:
            i += 1
    shrunk = []
    for k, m in enumerate(muts):
        if m[0] in ("insert",) and len(m[2]) > 2:
            for size in (2, 8):
                trial_m = (m[0], m[1], m[2][:size])
                if still(Case(case.seed, case.slot, tuple(shrunk + [trial_m] + muts[k + 1:]), case.load_file)):
                    m = trial_m
                    break
        shrunk.append(m)
    final = Case(case.seed, case.slot, tuple(shrunk), case.load_file)
    if final.load_file and still(Case(final.seed, final.slot, final.mutations, False)):
        final = Case(final.seed, final.slot, final.mutations, False)
    return final


# --- engines -----------------------------------------------------------------------------------

@dataclass
class Tally:
    counts: dict = field(default_factory=dict)
    failures: list = field(default_factory=list)
    max_rss: int = 0
    seconds: float = 0.0

    def add(self, r: Result) -> None:
        self.counts[r.outcome] = self.counts.get(r.outcome, 0) + 1
        self.max_rss = max(self.max_rss, r.rss)
        if r.outcome not in PASSING:
            self.failures.append(r)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> dict:
        bad = {k: self.counts.get(k, 0) for k in (ESCAPED, LIED, SIGNALLED, HUNG, MEMORY)}
        return {"cases": self.total, "loaded": self.counts.get(LOADED, 0), "refused_medseg_error": self.counts.get(REFUSED, 0),
                **{f"failed_{k}": v for k, v in bad.items()}, "max_rss_mib": round(self.max_rss / 2 ** 20),
                "seconds": round(self.seconds, 1)}


def _worker(args) -> list[Result]:
    index, cases, seed_root, seeds = args
    work = Path(seed_root) / f"work-{index}"
    return [run_case(c, seeds, work) for c in cases]


def seeded(seeds, root: Path, cases: int, seed: int, jobs: int, progress: bool = True) -> Tally:
    rng = random.Random(seed)
    plan = [random_case(rng, seeds) for _ in range(cases)]
    tally = Tally()
    t0 = time.time()
    if jobs <= 1:
        for i, c in enumerate(plan):
            tally.add(run_case(c, seeds, root / "work-0"))
            if progress and (i + 1) % 500 == 0:
                print(f"  {i + 1} cases, {time.time() - t0:.0f} s", file=sys.stderr)
    else:
        # A worker per job, each forking one child per case; results in the plan's order.
        import multiprocessing

        chunks = [(i, plan[i::jobs], str(root), seeds) for i in range(jobs)]
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            for results in pool.imap(_worker, chunks):
                for r in results:
                    tally.add(r)
    tally.seconds = time.time() - t0
    return tally


def atheris_engine(seeds, root: Path, cases: int, seed: int, finish) -> None:
    """Run libFuzzer (atheris) for ``cases`` inputs, then ``finish(tally)``, which ends the process
    (libFuzzer never returns)."""
    import warnings

    import atheris

    from medseg.errors import MedSegError
    from medseg.io import load

    atheris.instrument_all()  # coverage of medseg, pydicom, numpy's Python parts for libFuzzer
    names = sorted(seeds)
    slots = [(n, k) for n in names for k in range(len(seeds[n]))]
    corpus = root / "atheris-corpus"
    corpus.mkdir()
    for i, (n, k) in enumerate(slots):
        (corpus / f"seed{i}").write_bytes(bytes([i]) + seeds[n][k].read_bytes())
    tally = Tally()
    t0 = time.time()

    def one(data: bytes) -> None:
        if not data:
            return
        name, slot = slots[data[0] % len(slots)]
        case = Case(name, slot, (("truncate", 0), ("insert", 0, data[1:].hex())))  # the fuzzed bytes replace the file
        result = run_case(case, seeds, root / "work-atheris")
        tally.add(result)
        if result.outcome in PASSING:  # proven harmless in the child: run it here for the coverage
            try:
                load(materialise(case, seeds, root / "work-atheris-cov"))
            except MedSegError:
                pass
        if tally.total >= cases:
            tally.seconds = time.time() - t0
            finish(tally)

    warnings.simplefilter("ignore")
    atheris.Setup([sys.argv[0], f"-seed={seed}", f"-runs={2 * cases + len(slots)}", "-max_len=2000000",
                   f"-artifact_prefix={root}/", "-print_final_stats=0", str(corpus)], one)
    atheris.Fuzz()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=500)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--engine", choices=("seeded", "atheris"), default="seeded")
    p.add_argument("--json", metavar="FILE", help="write the counts as JSON")
    p.add_argument("--no-minimise", action="store_true")
    args = p.parse_args(argv)
    os.environ["MEDSEG_MAX_BYTES"] = CHILD_MAX_BYTES
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    root = Path(tempfile.mkdtemp(prefix="medseg-fuzz-"))
    seeds = build_seeds(root / "seeds")

    def finish(tally: Tally) -> int:
        summary = {"engine": args.engine, "seed": args.seed, "seeds": sorted(seeds), **tally.summary()}
        print(json.dumps(summary, indent=1), flush=True)
        shown = set()
        for r in tally.failures:
            key = (r.outcome, r.detail.strip().splitlines()[-1] if r.detail.strip() else "")
            if key in shown:
                continue
            shown.add(key)
            case = r.case if args.no_minimise or args.engine == "atheris" else minimise(r.case, seeds, root / "min", r.outcome)
            print(f"FAIL {r.outcome}: {case}\n{r.detail.strip()[-1500:]}\n", file=sys.stderr, flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(summary, indent=1) + "\n")
        shutil.rmtree(root, ignore_errors=True)
        if args.engine == "atheris":  # libFuzzer is exiting the process: give it our verdict
            os._exit(1 if tally.failures else 0)
        return 1 if tally.failures else 0

    try:
        if args.engine == "atheris":
            atheris_engine(seeds, root, args.cases, args.seed, finish)
        return finish(seeded(seeds, root, args.cases, args.seed, args.jobs))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
