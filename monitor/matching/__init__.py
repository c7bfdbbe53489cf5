"""Matching: rule files compiled into one Hyperscan database, one pass per document.

Modules (imported directly; this package imports nothing so that light users such as
`identifiers` do not pay for Hyperscan):

- `rules`      load_rules(paths) -> RuleSet(rules, problems, files); Rule, RuleProblem
- `engine`     Engine.build(ruleset, fingerprint_sets=..., phone_region=...) -> Engine;
               engine.scan(data: bytes) -> list[Hit]; engine.scan_text(str). A package:
               compile (rules -> patterns + roles), roles, evaluate (one rule on one
               document), bulk (the chunked detector passes), excerpts
- `hyperscan_db`  the Hyperscan database and per-thread scratch; operator regex planning
- `document_scan` scan_document(engine, data, name, limits): a document's parts through the
               engine, hits merged (shared by `leakmon scan` and the daemon)
- `normalize`  folding, keyword literals, word boundaries
- `fuzzy`      leetspeak/separator and edit-distance variants, rapidfuzz scoring
- `detectors`  identifier and secret detectors (triggers + validation)
- `redact`     redact(text) for excerpts that are safe to store and send
- `ruletests`  run_rule_tests(ruleset) for `leakmon rules test`
"""
