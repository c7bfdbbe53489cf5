"""Synthetic person records and leak dumps, to test and measure fingerprint matching.

Names come from Faker's fr_FR lists (Faker is a development dependency, imported lazily);
identifiers are generated with valid check digits (NIR key, IBAN mod 97). `render_rows` writes
the same people in the shapes real dumps use (reordered columns, `; , | tab`, JSON lines,
pretty JSON, SQL INSERT, UPPER-CASE names, `LAST, First`, spaced/dotted NIRs and phones, every
date form), so a test can plant records and check they are found.

    python -m bench.fingerprint_synth --records 1000000 --size-mb 50

measures import time, load time, matching MB/s, peak RSS, recall and precision.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import date, timedelta

from stdnum import iban as _iban

from bench.corpus import nir_key

MONTHS_FR = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
             "septembre", "octobre", "novembre", "décembre"]
MONTHS_EN = ["January", "February", "March", "April", "May", "June", "July", "August",
             "September", "October", "November", "December"]
SHAPES = ("csv_semicolon", "csv_comma", "pipe", "tab", "jsonl", "json_pretty", "sql",
          "upper_last_first", "spaced")


@dataclass(slots=True)
class Person:
    id: str
    last: str
    first: str
    dob: date
    nir: str  # 15 digits, valid key
    email: str
    phone: str  # national, 10 digits
    iban: str  # compact, valid
    canary: bool = False


def _names() -> tuple[list[str], list[str]]:
    from faker.providers.person.fr_FR import Provider

    return (list(Provider.last_names),
            list(Provider.first_names_male) + list(Provider.first_names_female))


def nir_for(rng: random.Random, sex: int, dob: date) -> str:
    body = f"{sex}{dob.year % 100:02d}{dob.month:02d}{rng.randint(1, 95):02d}" \
           f"{rng.randint(1, 999):03d}{rng.randint(1, 999):03d}"
    return body + nir_key(body)


def iban_for(rng: random.Random) -> str:
    bban = f"{rng.randint(10000, 99999)}{rng.randint(10000, 99999)}" \
           f"{rng.randint(0, 10**11 - 1):011d}{rng.randint(0, 99):02d}"
    return "FR" + _iban.calc_check_digits("FR00" + bban) + bban


def make_people(n: int, *, seed: int = 1, prefix: str = "P", phone_prefix: str = "06",
                email_domain: str = "example.fr", canary_every: int = 0) -> list[Person]:
    """`n` people; ids `prefix` + number. Different seeds/prefixes give disjoint identifiers
    (phones by `phone_prefix`, e-mails by `email_domain`)."""
    rng = random.Random(seed)
    lasts, firsts = _names()
    start = date(1940, 1, 1)
    people = []
    for i in range(n):
        last, first = rng.choice(lasts), rng.choice(firsts)
        dob = start + timedelta(days=rng.randint(0, 65 * 365))
        local = f"{first}.{last}".lower().replace(" ", "").replace("'", "")
        people.append(Person(
            id=f"{prefix}{i:07d}", last=last, first=first, dob=dob,
            nir=nir_for(rng, rng.choice((1, 2)), dob),
            email=f"{local}{i}@{email_domain}",
            phone=f"{phone_prefix}{rng.randint(0, 10**8 - 1):08d}",
            iban=iban_for(rng),
            canary=bool(canary_every) and i % canary_every == 0,
        ))
    return people


def csv_text(people: list[Person]) -> str:
    lines = ["id,nir,nom,prenom,naissance,email,telephone,iban,canary"]
    lines += [f"{p.id},{p.nir},{p.last},{p.first},{p.dob.strftime('%d/%m/%Y')},{p.email},"
              f"{p.phone},{p.iban},{'1' if p.canary else ''}" for p in people]
    return "\n".join(lines) + "\n"


def fmt_date(d: date, rng: random.Random) -> str:
    return rng.choice((
        d.isoformat(), d.strftime("%d/%m/%Y"), d.strftime("%d.%m.%Y"), d.strftime("%d-%m-%Y"),
        f"{d.day} {MONTHS_FR[d.month - 1]} {d.year}", f"{d.day} {MONTHS_EN[d.month - 1]} {d.year}",
        d.strftime("%Y%m%d"),
    ))


def fmt_phone(p: str, rng: random.Random) -> str:
    pairs = [p[i:i + 2] for i in range(0, 10, 2)]
    return rng.choice((p, ".".join(pairs), " ".join(pairs), "+33" + p[1:],
                       "+33 " + p[1] + " " + " ".join(pairs[1:])))


def fmt_nir(n: str, rng: random.Random) -> str:
    parts = [n[0], n[1:3], n[3:5], n[5:7], n[7:10], n[10:13], n[13:15]]
    return rng.choice((n, " ".join(parts), ".".join(parts), n[:13]))


def render_row(p: Person, shape: str, rng: random.Random, *, ids: bool = True) -> str:
    """One person as one row/object of a dump of `shape`. Which fields appear varies, so that
    some rows carry only name + birth date, some only one identifier."""
    dob = fmt_date(p.dob, rng)
    choice = rng.random()
    fields: dict[str, str] = {"nom": p.last, "prenom": p.first, "ddn": dob}
    if choice < 0.25:
        fields["nir"] = fmt_nir(p.nir, rng)
    elif choice < 0.5:
        fields["tel"] = fmt_phone(p.phone, rng)
    elif choice < 0.7:
        fields["mail"] = p.email
    elif choice < 0.8:
        fields["iban"] = p.iban
    # Cities that are not also surnames in Faker's list ("Paris" is one).
    fields["ville"] = rng.choice(("Nantes", "Lyon", "Saint-Étienne", "Marseille", "Lille"))
    keys = list(fields)
    rng.shuffle(keys)
    if shape == "csv_semicolon":
        return ";".join(fields[k] for k in keys)
    if shape == "csv_comma":
        return ",".join(f'"{fields[k]}"' for k in keys)
    if shape == "pipe":
        return "|".join(fields[k] for k in keys)
    if shape == "tab":
        return "\t".join(fields[k] for k in keys)
    if shape == "jsonl":
        return json.dumps({k: fields[k] for k in keys}, ensure_ascii=False)
    if shape == "json_pretty":
        return json.dumps({k: fields[k] for k in keys}, ensure_ascii=False, indent=2)
    if shape == "sql":
        return "(" + ", ".join("'" + fields[k].replace("'", "''") + "'" for k in keys) + ")"
    if shape == "upper_last_first":
        rest = [fields[k] for k in keys if k not in ("nom", "prenom")]
        return f"{p.last.upper()}, {p.first} ; " + " ; ".join(rest)
    return " ".join(fields[k] for k in keys)  # "spaced"


def render_dump(people: list[Person], shape: str, rng: random.Random) -> str:
    rows = [render_row(p, shape, rng) for p in people]
    if shape == "json_pretty":
        return "[\n" + ",\n".join(rows) + "\n]\n"
    if shape == "sql":
        return "".join(f"INSERT INTO patients VALUES {','.join(rows[i:i + 50])};\n"
                       for i in range(0, len(rows), 50))
    return "\n".join(rows) + "\n"


CHAT = [
    "salut tout le monde, nouvelle base dispo ce soir, DM pour le prix",
    "who has fresh combo lists? need 10k lines minimum",
    "mise à jour du bot : il supporte maintenant les exports en json",
    "def parse(line):\n    return line.split(';')\n",
    "user{n}@mail.ru:pass{n}word",
    "le lien est mort, quelqu'un a un miroir ? rdv le 12/05/2023 à 18h",
]


def chat_text(rng: random.Random, n: int) -> str:
    return "\n".join(rng.choice(CHAT).format(n=rng.randint(0, 10**6)) for _ in range(n)) + "\n"


# --- measurement ---------------------------------------------------------------------------

def _write_corpus(out_dir, set_people: list[Person], size_mb: float, seed: int,
                  chat_share: float) -> tuple[int, set[str]]:
    """Documents of ~1 MB: dumps of noise people with set people planted, plus chat."""
    rng = random.Random(seed)
    # Noise people never carry the name pair + birth date of a set record, in either order:
    # with Faker's small name lists such rows would be real coincidences, not matcher errors.
    taken = {(frozenset((p.last, p.first)), p.dob) for p in set_people}
    noise = [p for p in make_people(200_000, seed=seed + 1, prefix="N", phone_prefix="07",
                                    email_domain="mail.test")
             if (frozenset((p.last, p.first)), p.dob) not in taken]
    planted: set[str] = set()
    truth: dict[str, list[str]] = {}
    total = 0
    doc = 0
    while total < size_mb * 1e6:
        here: list[str] = []
        parts: list[str] = []
        size = 0
        while size < 1_000_000:
            if rng.random() < chat_share:
                block = chat_text(rng, 200)
            else:
                rows = rng.sample(noise, 400)
                for _ in range(2):
                    p = rng.choice(set_people)
                    planted.add(p.id)
                    here.append(p.id)
                    rows.insert(rng.randrange(len(rows)), p)
                block = render_dump(rows, rng.choice(SHAPES), rng)
            parts.append(block)
            size += len(block.encode("utf-8"))
        data = "".join(parts).encode("utf-8")
        (out_dir / f"doc{doc:04d}.txt").write_bytes(data)
        truth[f"doc{doc:04d}.txt"] = sorted(set(here))
        total += len(data)
        doc += 1
    (out_dir / "truth.json").write_text(json.dumps(truth, indent=1))
    return total, planted


def _peak_rss_mb() -> float:
    """VmHWM of this process. (ru_maxrss is inherited from the parent across fork+exec, so
    it would report the generator's memory, not the scanner's.)"""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _scan_child(state_dir: str, corpus: str, key_hex: str) -> dict:
    """Run in a fresh process: load the set, match every document; time and RSS."""
    import time
    from pathlib import Path

    from monitor.matching.fingerprints import FingerprintSet

    t0 = time.perf_counter()
    fs = FingerprintSet.load(Path(state_dir), "bench", bytes.fromhex(key_hex))
    load_s = time.perf_counter() - t0
    # Matching is timed in CPU seconds of this (single-threaded) process, so that other work
    # on a shared machine does not distort the figure.
    docs = sorted(Path(corpus).glob("doc*.txt"))
    found: dict[str, bool] = {}
    nbytes = 0
    scan_s = 0.0
    for path in docs:
        data = path.read_bytes()
        nbytes += len(data)
        t0 = time.process_time()
        matches = fs.match(data)
        scan_s += time.process_time() - t0
        for m in matches:
            found[m.record_id] = m.canary
    return {"load_s": load_s, "bytes": nbytes, "scan_s": scan_s, "found": sorted(found),
            "canaries_found": sum(found.values()),
            "peak_rss_mb": _peak_rss_mb()}


def main(argv: list[str] | None = None) -> int:
    import argparse
    import os
    import shutil
    import subprocess
    import sys
    import tempfile
    import time
    from pathlib import Path

    from monitor.matching.fingerprints.build import FieldSpec, import_csv

    ap = argparse.ArgumentParser(prog="python -m bench.fingerprint_synth")
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--size-mb", type=float, default=20)
    ap.add_argument("--chat-share", type=float, default=0.0,
                    help="share of chat blocks between dumps (0 = dumps only)")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--reuse-set", action="store_true",
                    help="keep the set already imported in --workdir (same --records)")
    ap.add_argument("--child", nargs=3, metavar=("STATE", "CORPUS", "KEYHEX"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(_scan_child(*args.child)))
        return 0
    work = Path(args.workdir or tempfile.mkdtemp(prefix="fp-synth-"))
    shutil.rmtree(work / "corpus", ignore_errors=True)
    (work / "corpus").mkdir(parents=True)
    people = make_people(args.records, seed=1, canary_every=1000)
    meta_path = work / "state" / "fingerprints" / "bench" / "meta.json"
    if args.reuse_set and meta_path.exists() and (work / "key.hex").exists() \
            and json.loads(meta_path.read_text())["rows_read"] == args.records:
        key = bytes.fromhex((work / "key.hex").read_text())
        records, import_s = json.loads(meta_path.read_text())["records"], None
    else:
        key = os.urandom(32)  # a throw-away key for synthetic data, kept to re-run the child
        (work / "key.hex").write_text(key.hex())
        (work / "set.csv").write_text(csv_text(people), encoding="utf-8")
        fields = [FieldSpec.parse(s) for s in ("nir=fr_nir", "nom=last_name",
                                               "prenom=first_name", "naissance=date",
                                               "email=email", "telephone=phone", "iban=iban")]
        t0 = time.perf_counter()
        report = import_csv(work / "state", "bench", work / "set.csv", id_column="id",
                            fields=fields, key=key, canary_column="canary", replace=True)
        import_s = round(time.perf_counter() - t0, 1)
        records = report.records
    total, planted = _write_corpus(work / "corpus", people, args.size_mb, 7, args.chat_share)
    out = subprocess.run([sys.executable, "-m", "bench.fingerprint_synth", "--child",
                          str(work / "state"), str(work / "corpus"), key.hex()],
                         check=True, capture_output=True, text=True)
    child = json.loads(out.stdout)
    found = set(child["found"])
    tp = len(found & planted)
    result = {
        "records": records, "import_s": import_s,
        "load_s": round(child["load_s"], 3), "corpus_mb": round(total / 1e6, 1),
        "match_mb_s": round(child["bytes"] / 1e6 / child["scan_s"], 1),
        "peak_rss_mb": round(child["peak_rss_mb"], 1),
        "planted": len(planted), "found": len(found),
        "recall": round(tp / len(planted), 4) if planted else None,
        "precision": round(tp / len(found), 4) if found else None,
        "canaries_found": child["canaries_found"],
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
