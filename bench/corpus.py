"""Generate the benchmark corpus: what a leak monitor really reads, with known records planted.

`python -m bench.corpus [--size-mb 100] [--records 1000000] [--seed 7]` writes into
bench/corpus/ (gitignored):

- `docs/`: Telegram-like chat exports (FR/EN), source code, combo lists, and person-record
  dumps (CSV with `;` `,` `|` and tab, JSON lines, JSON arrays, SQL INSERT) in the shapes
  criminals repost: columns reordered, UPPER-CASE names, `LAST, First`, NIRs with spaces or
  dots, phones as `+33 6 ...` or `06.12...`, dates in several written forms;
- `records.csv`: our organization's records (the set to fingerprint), with valid NIRs (key
  computed), unique e-mails and phones, and unique (last name, first name, birth date);
- `org_keywords.txt`: 1,000 organization names and domains (for keyword rules);
- `truth.json`: which of our records were planted in which document (the ground truth).

The same seed gives the same bytes. Faker (fr_FR and neighbours) fills value pools once;
lines are then assembled from the pools with a seeded `random.Random`, which is what makes
100 MB take seconds rather than an hour.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "corpus"
MB = 1024 * 1024

MONTHS_FR = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
             "septembre", "octobre", "novembre", "décembre")
MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August",
             "September", "October", "November", "December")
LOCALES = ("fr_FR", "fr_CH", "fr_CA", "it_IT", "es_ES", "pt_PT", "de_DE", "nl_NL", "en_GB",
           "pl_PL")
# Share of the corpus bytes per kind of document, and the size of one document.
MIX = (("chat", 0.30, 2 * MB), ("code", 0.10, MB), ("combo", 0.15, 4 * MB),
       ("dump", 0.45, 4 * MB))
PLANT_EVERY = {"dump": 150, "combo": 800, "chat": 3000}  # one of our records per N lines


@dataclass(slots=True)
class Person:
    id: str
    last: str
    first: str
    dob: date
    nir: str  # 15 digits (2A/2B for Corsica), valid key
    email: str
    phone: str  # national digits, 10, starting 06/07
    city: str


def ascii_fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c)).lower()


def nir_key(body13: str) -> str:
    digits = body13.replace("2A", "19").replace("2B", "18")
    return f"{97 - int(digits) % 97:02d}"


class Pools:
    """Faker values drawn once: names, cities, sentences, words, companies."""

    def __init__(self, seed: int) -> None:
        from faker import Faker

        last: set[str] = set()
        first: set[str] = set()
        for i, loc in enumerate(LOCALES):
            f = Faker(loc)
            f.seed_instance(seed + i)
            for _ in range(1000):
                last.add(f.last_name())
                first.add(f.first_name())
        self.last = sorted(n for n in last if " " not in n)
        self.first = sorted(n for n in first if " " not in n)
        fr = Faker("fr_FR")
        fr.seed_instance(seed)
        en = Faker("en_US")
        en.seed_instance(seed)
        self.cities = sorted({fr.city() for _ in range(1000)})
        self.sent_fr = [fr.sentence(nb_words=10) for _ in range(2000)]
        self.sent_en = [en.sentence(nb_words=10) for _ in range(2000)]
        self.words = sorted({w for s in self.sent_en for w in s.rstrip(".").lower().split()})
        self.users = sorted({fr.user_name() for _ in range(1000)} |
                            {en.user_name() for _ in range(1000)})
        self.mail_domains = ["gmail.com", "yahoo.fr", "hotmail.fr", "orange.fr", "free.fr",
                             "laposte.net", "outlook.com", "sfr.fr", "wanadoo.fr", "proton.me"]
        self.companies = sorted({fr.company() for _ in range(1500)})


class People:
    """Persons with unique NIR, e-mail, phone and (last, first, birth date)."""

    def __init__(self, pools: Pools, rng: random.Random) -> None:
        self.pools = pools
        self.rng = rng
        self.nirs: set[str] = set()
        self.emails: set[str] = set()
        self.phones: set[str] = set()
        self.triples: set[tuple[str, str, date]] = set()

    def make(self, pid: str) -> Person:
        rng, p = self.rng, self.pools
        while True:
            last, first = rng.choice(p.last), rng.choice(p.first)
            dob = date(1930, 1, 1) + timedelta(days=rng.randrange(27000))
            triple = (ascii_fold(last), ascii_fold(first), dob)
            if triple not in self.triples:
                self.triples.add(triple)
                break
        sex = rng.choice("12")
        dept = rng.choice(("2A", "2B")) if rng.random() < 0.01 else f"{rng.randrange(1, 96):02d}"
        if dept == "20":
            dept = "21"
        while True:
            body = f"{sex}{dob.year % 100:02d}{dob.month:02d}{dept}{rng.randrange(1, 990):03d}" \
                   f"{rng.randrange(1, 1000):03d}"
            nir = body + nir_key(body)
            if nir not in self.nirs:
                self.nirs.add(nir)
                break
        local = f"{ascii_fold(first)}.{ascii_fold(last)}".replace("'", "").replace("-", "")
        email = f"{local}@{rng.choice(p.mail_domains)}"
        n = 1
        while email in self.emails:
            n += 1
            email = f"{local}{n}@{rng.choice(p.mail_domains)}"
        self.emails.add(email)
        while True:
            # Metropolitan mobiles only: 060-068 (not 0639) and 073-079; 069x and 0639 are
            # overseas numbers, 070-072 are not allocated.
            head = f"06{rng.randrange(9)}" if rng.random() < 0.7 else f"07{rng.randrange(3, 10)}"
            phone = f"{head}{rng.randrange(10**7):07d}"
            if phone.startswith("0639"):
                continue
            if phone not in self.phones:
                self.phones.add(phone)
                break
        return Person(pid, last, first, dob, nir, email, phone, rng.choice(p.cities))


# --- value formats (the reshaping a dump goes through) --------------------------------------


def fmt_nir(n: str, style: int) -> str:
    if style == 0:
        return n
    parts = (n[0], n[1:3], n[3:5], n[5:7], n[7:10], n[10:13], n[13:])
    return (" " if style == 1 else ".").join(parts)


def fmt_phone(p: str, style: int) -> str:
    pairs = [p[i:i + 2] for i in range(0, 10, 2)]
    return (p, " ".join(pairs), ".".join(pairs), "+33 " + p[1] + " " + " ".join(pairs[1:]),
            "+33" + p[1:], "-".join(pairs))[style]


def fmt_date(d: date, style: int) -> str:
    return (d.isoformat(), d.strftime("%d/%m/%Y"), d.strftime("%d.%m.%Y"),
            d.strftime("%d-%m-%Y"), f"{d.day} {MONTHS_FR[d.month - 1]} {d.year}",
            f"{d.day} {MONTHS_EN[d.month - 1]} {d.year}", d.strftime("%Y%m%d"))[style]


def fmt_last(name: str, upper: bool) -> str:
    return name.upper() if upper else name


# --- dump shapes: (header, row function) ----------------------------------------------------


def _sql_quote(s: str) -> str:
    return s.replace("'", "''")


def dump_shapes():
    """Each shape: (file suffix, header or None, row(person, rng, n) -> str, footer)."""

    def semi(p, r, n):
        return (f"{n};{fmt_last(p.last, True)};{p.first};{fmt_date(p.dob, 1)};"
                f"{fmt_nir(p.nir, 1)};{fmt_phone(p.phone, 2)};{p.email}")

    def comma(p, r, n):
        return (f"{p.email},{fmt_phone(p.phone, 3)},{p.last},{p.first},{fmt_date(p.dob, 0)},"
                f"{p.city}")

    def pipe(p, r, n):
        return (f"{fmt_last(p.last, True)}, {p.first}|{fmt_date(p.dob, 4)}|"
                f"{fmt_nir(p.nir, 2)}|{fmt_phone(p.phone, 0)}")

    def tab(p, r, n):
        return (f"{p.first}\t{fmt_last(p.last, True)}\t{fmt_date(p.dob, 2)}\t{p.city}\t"
                f"{fmt_phone(p.phone, 5)}")

    def names_only(p, r, n):  # weak fields only: name + date of birth must do
        return f"{fmt_last(p.last, True)} {p.first} né(e) le {fmt_date(p.dob, r.choice((1, 4, 5)))} à {p.city}"

    def jsonl(p, r, n):
        return json.dumps({"nom": p.last.upper(), "prenom": p.first,
                           "naissance": fmt_date(p.dob, 3), "secu": fmt_nir(p.nir, 0),
                           "mail": p.email, "tel": fmt_phone(p.phone, 4)}, ensure_ascii=False)

    def jsonarr(p, r, n):
        return "  " + json.dumps({"id": n, "lastName": p.last, "firstName": p.first,
                                  "birthDate": fmt_date(p.dob, 6),
                                  "phone": fmt_phone(p.phone, 1)}, ensure_ascii=False) + ","

    def sql(p, r, n):
        return (f"INSERT INTO `patients` VALUES ({n},'{_sql_quote(fmt_last(p.last, True))}',"
                f"'{_sql_quote(p.first)}','{fmt_date(p.dob, 0)}','{fmt_nir(p.nir, 1)}',"
                f"'{p.email}','{fmt_phone(p.phone, 0)}','{_sql_quote(p.city)}');")

    return [
        ("csv", "id;nom;prenom;date_naissance;nir;telephone;email", semi, ""),
        ("csv", "email,phone,last_name,first_name,dob,city", comma, ""),
        ("txt", "NOM, Prénom|Naissance|N° SS|Tel", pipe, ""),
        ("tsv", "prenom\tnom\tddn\tville\tportable", tab, ""),
        ("txt", "# fichier clients - export", names_only, ""),
        ("jsonl", None, jsonl, ""),
        ("json", "[", jsonarr, '  {"end": true}\n]'),
        ("sql", "-- MySQL dump 10.13\nCREATE TABLE `patients` (`id` int, `nom` varchar(64), "
                "`prenom` varchar(64), `ddn` date, `nir` varchar(32), `email` varchar(128), "
                "`tel` varchar(20), `ville` varchar(64));", sql, "-- Dump completed"),
    ]


# --- the generator --------------------------------------------------------------------------


class Generator:
    def __init__(self, out: Path, size_mb: float, records: int, seed: int) -> None:
        self.out = out
        self.size = int(size_mb * MB)
        self.n_records = records
        self.seed = seed
        self.rng = random.Random(seed)
        self.pools = Pools(seed)
        self.people = People(self.pools, self.rng)
        self.truth: dict[str, list[str]] = {}
        self.ours: list[Person] = []
        self.decoys: list[Person] = []
        self.org_keywords: list[str] = []
        self._plant_order: list[int] = []

    def run(self) -> dict:
        t0 = time.monotonic()
        self.out.mkdir(parents=True, exist_ok=True)
        docs = self.out / "docs"
        docs.mkdir(exist_ok=True)
        for old in docs.iterdir():
            old.unlink()
        self.ours = [self.people.make(f"P{i:07d}") for i in range(self.n_records)]
        n_decoys = max(2000, min(60000, self.n_records // 10))  # other people's records
        self.decoys = [self.people.make(f"D{i:06d}") for i in range(n_decoys)]
        self._plant_order = list(range(len(self.ours)))
        self.rng.shuffle(self._plant_order)
        self.org_keywords = self._org_keywords(1000)
        self._write_records()
        (self.out / "org_keywords.txt").write_text("\n".join(self.org_keywords) + "\n")
        written = 0
        counts: dict[str, int] = {}
        for kind, share, doc_size in MIX:
            target = int(self.size * share)
            made = 0
            while made < target:
                idx = counts.get(kind, 0)
                counts[kind] = idx + 1
                name, text = self._document(kind, idx, min(doc_size, max(target - made, 64 * 1024)))
                data = text.encode("utf-8")
                (docs / name).write_bytes(data)
                made += len(data)
            written += made
        planted = sum(len(v) for v in self.truth.values())
        truth = {"seed": self.seed, "records": self.n_records, "size_bytes": written,
                 "documents": sum(counts.values()), "planted": planted,
                 "planted_records": len({r for v in self.truth.values() for r in v}),
                 "files": self.truth}
        (self.out / "truth.json").write_text(json.dumps(truth, indent=0))
        manifest = {"seed": self.seed, "records": self.n_records, "size_mb": self.size / MB,
                    "bytes": written, "documents": truth["documents"], "planted": planted,
                    "seconds": round(time.monotonic() - t0, 1)}
        (self.out / "manifest.json").write_text(json.dumps(manifest, indent=1))
        return manifest

    # --- pieces ---------------------------------------------------------------------------

    def _org_keywords(self, n: int) -> list[str]:
        rng, p = self.rng, self.pools
        kinds = ("Clinique {c}", "Laboratoire {l}", "{l} Biologie", "Groupe Hospitalier {c}",
                 "Centre Médical {l}", "Pharmacie {l}", "{l} Santé", "Cabinet {l} & {l2}",
                 "Institut {l}", "{co}")
        out: dict[str, None] = {}
        while len(out) < n:
            name = rng.choice(kinds).format(c=rng.choice(p.cities), l=rng.choice(p.last),
                                            l2=rng.choice(p.last), co=rng.choice(p.companies))
            slug = "-".join(ascii_fold(name).replace("&", " ").replace("'", " ").replace(",", " ")
                            .replace(".", " ").split())
            domain = f"{slug}.{rng.choice(('fr', 'com', 'eu', 'org'))}"
            if name not in out and domain not in out:
                out[name] = None
                out[domain] = None
        return list(out)[:n]

    def _write_records(self) -> None:
        with open(self.out / "records.csv", "w", encoding="utf-8", newline="") as fh:
            fh.write("id,nir,email,phone,last_name,first_name,birth_date\n")
            for p in self.ours:
                fh.write(f"{p.id},{p.nir},{p.email},{fmt_phone(p.phone, 1)},{p.last},{p.first},"
                         f"{p.dob.isoformat()}\n")

    def _plant(self, name: str) -> Person:
        """The next of our records to plant, noted in the ground truth for `name`."""
        if not self._plant_order:
            self._plant_order = list(range(len(self.ours)))
            self.rng.shuffle(self._plant_order)
        p = self.ours[self._plant_order.pop()]
        ids = self.truth.setdefault(name, [])
        if p.id not in ids:
            ids.append(p.id)
        return p

    def _document(self, kind: str, idx: int, size: int) -> tuple[str, str]:
        if kind == "chat":
            return f"chat_{idx:04d}.txt", self._chat(f"chat_{idx:04d}.txt", size)
        if kind == "code":
            ext = self.rng.choice(("py", "js", "go"))
            return f"code_{idx:04d}.{ext}", self._code(size)
        if kind == "combo":
            return f"combo_{idx:04d}.txt", self._combo(f"combo_{idx:04d}.txt", size)
        shapes = dump_shapes()
        suffix, header, row, footer = shapes[idx % len(shapes)]
        name = f"dump_{idx:04d}.{suffix}"
        return name, self._dump(name, size, header, row, footer)

    def _dump(self, name: str, size: int, header, row, footer: str) -> str:
        rng = self.rng
        lines = [header] if header else []
        used = 0
        n = 0
        every = PLANT_EVERY["dump"]
        while used < size:
            n += 1
            p = self._plant(name) if rng.randrange(every) == 0 else rng.choice(self.decoys)
            line = row(p, rng, n)
            lines.append(line)
            used += len(line) + 1
        if footer:
            lines.append(footer)
        return "\n".join(lines) + "\n"

    def _chat(self, name: str, size: int) -> str:
        rng, p = self.rng, self.pools
        start = datetime(2024, 1, 1) + timedelta(days=rng.randrange(600))
        lines: list[str] = []
        used, minute = 0, 0
        leak_fr = ("fuite", "base de données", "dump", "leak", "combo", "db complète", "fichier")
        while used < size:
            minute += rng.randrange(1, 5)
            at = start + timedelta(minutes=minute)
            ts = f"[{at:%Y-%m-%d %H:%M}]"
            user = rng.choice(p.users)
            roll = rng.random()
            if roll < 1 / PLANT_EVERY["chat"]:
                q = self._plant(name)
                text = rng.choice((
                    f"dispo la fiche de {q.first} {q.last.upper()}, tel {fmt_phone(q.phone, 3)}",
                    f"contact {q.email} si t'as la suite",
                    f"{q.last.upper()} {q.first} né le {fmt_date(q.dob, 1)} secu "
                    f"{fmt_nir(q.nir, 1)}",
                ))
            elif roll < 0.003:
                org = rng.choice(self.org_keywords)
                text = f"{rng.choice(leak_fr)} {org} {rng.choice(p.sent_fr)}"
            elif roll < 0.006:
                d = rng.choice(self.decoys)
                text = f"mon num {fmt_phone(d.phone, 2)} appelle moi"
            elif roll < 0.5:
                text = rng.choice(p.sent_fr)
            elif roll < 0.9:
                text = rng.choice(p.sent_en)
            else:
                text = f"https://t.me/{rng.choice(p.users)} " + rng.choice(p.sent_en)
            line = f"{ts} @{user}: {text}"
            lines.append(line)
            used += len(line) + 1
        return "\n".join(lines) + "\n"

    def _combo(self, name: str, size: int) -> str:
        rng, p = self.rng, self.pools
        lines = []
        used = 0
        every = PLANT_EVERY["combo"]
        while used < size:
            who = self._plant(name) if rng.randrange(every) == 0 else rng.choice(self.decoys)
            pw = rng.choice(p.words) + str(rng.randrange(10000)) + rng.choice(("", "!", "#", "?"))
            email = who.email if rng.random() < 0.8 else who.email.upper()
            line = f"{email}:{pw}"
            lines.append(line)
            used += len(line) + 1
        return "\n".join(lines) + "\n"

    def _code(self, size: int) -> str:
        rng, w = self.rng, self.pools.words
        out: list[str] = []
        used = 0
        while used < size:
            fn, a, b = rng.choice(w), rng.choice(w), rng.choice(w)
            block = (
                f"def {fn}_{rng.randrange(1000)}({a}, {b}=None):\n"
                f"    \"\"\"{rng.choice(self.pools.sent_en)}\"\"\"\n"
                f"    if {b} is None:\n"
                f"        {b} = {{'{a}': {rng.randrange(10**6)}, 'url': "
                f"'https://api.{rng.choice(w)}.io/v{rng.randrange(4)}/{a}'}}\n"
                f"    for i in range(len({a})):\n"
                f"        {b}['{rng.choice(w)}'] += {a}[i] * {rng.random():.4f}\n"
                f"    return {b}\n\n"
            )
            out.append(block)
            used += len(block)
        return "".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.corpus", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=float, default=100.0, help="corpus size (default 100)")
    ap.add_argument("--records", type=int, default=1_000_000,
                    help="records in our set, records.csv (default 1,000,000)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    manifest = Generator(args.out, args.size_mb, args.records, args.seed).run()
    print(json.dumps(manifest), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
