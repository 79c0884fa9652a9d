#!/usr/bin/env python3
"""Check that a run over the sample data reached every decision and fired every critic.

    python3 scripts/check-sample-data.py RESULTS.jsonl [--min-per-decision 40]
        [--min-per-critic 20] [--min-violations-per-critic 1]
        [--critics rights,autonomy,fairness,truth,risk,operations]

Reads the results.jsonl that `eleanor-worker run` writes (one JSON object per case, with
"decision" and "critics": {name: {"severity", "flags", ...}}) and prints
  - the number of cases per decision (allow, constrained_allow, escalate, deny),
  - per critic: the cases where its severity is > 0 ("fired"), the cases where it is >= 2.0
    (a violation at the aggregator's default violation_threshold), and its most frequent flags.
Python 3 standard library only.

Exit status: 0 when every decision has at least --min-per-decision cases and every expected
critic fired on at least --min-per-critic cases and reached 2.0 on at least
--min-violations-per-critic; 1 when one of them falls short (each shortfall is printed to
stderr); 2 when the file cannot be read or a line is not a result object.
"""

import argparse
import collections
import json
import sys

DECISIONS = ("allow", "constrained_allow", "escalate", "deny")
CRITICS = ("rights", "autonomy", "fairness", "truth", "risk", "operations")
VIOLATION = 2.0


def read_results(path):
    results = []
    try:
        with open(path, encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                except json.JSONDecodeError as error:
                    raise ValueError(f"{path}:{number}: not JSON ({error})") from None
                if (not isinstance(item, dict) or not isinstance(item.get("decision"), str)
                        or not isinstance(item.get("critics"), dict)):
                    raise ValueError(f"{path}:{number}: not a result object with \"decision\" "
                                     "and \"critics\"")
                results.append(item)
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: {error}") from None
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", help="results.jsonl of an eleanor-worker run")
    parser.add_argument("--min-per-decision", type=int, default=40,
                        help="least cases each decision must have (default 40)")
    parser.add_argument("--min-per-critic", type=int, default=20,
                        help="least cases on which each critic's severity must be > 0 "
                             "(default 20)")
    parser.add_argument("--min-violations-per-critic", type=int, default=1,
                        help="least cases on which each critic's severity must be >= 2.0 "
                             "(default 1)")
    parser.add_argument("--critics", default=",".join(CRITICS),
                        help="comma-separated critics that must be present (default: the six)")
    args = parser.parse_args()

    try:
        results = read_results(args.results)
    except ValueError as error:
        print(f"check-sample-data: {error}", file=sys.stderr)
        return 2

    expected = [c for c in args.critics.split(",") if c]
    decisions = collections.Counter()
    fired = collections.Counter()
    violations = collections.Counter()
    flags = collections.defaultdict(collections.Counter)
    seen_critics = []
    for item in results:
        decisions[item["decision"]] += 1
        for critic, score in item["critics"].items():
            if critic not in seen_critics:
                seen_critics.append(critic)
            severity = score.get("severity", 0) if isinstance(score, dict) else 0
            if not isinstance(severity, (int, float)):
                severity = 0
            if severity > 0:
                fired[critic] += 1
            if severity >= VIOLATION:
                violations[critic] += 1
            for flag in (score.get("flags") or []) if isinstance(score, dict) else []:
                flags[critic][flag] += 1

    print(f"{args.results}: {len(results)} cases")
    print(f"  {'decision':20s} {'cases':>6s}")
    for decision in list(DECISIONS) + sorted(set(decisions) - set(DECISIONS)):
        print(f"  {decision:20s} {decisions[decision]:6d}")
    print(f"  {'critic':12s} {'fired':>6s} {'>=2.0':>6s}  top flags")
    critics = expected + [c for c in seen_critics if c not in expected]
    for critic in critics:
        top = ", ".join(f"{f} {n}" for f, n in flags[critic].most_common(4))
        print(f"  {critic:12s} {fired[critic]:6d} {violations[critic]:6d}  {top}")

    problems = []
    for decision in DECISIONS:
        if decisions[decision] < args.min_per_decision:
            problems.append(f"decision '{decision}': {decisions[decision]} cases, fewer than "
                            f"--min-per-decision {args.min_per_decision}")
    for critic in expected:
        if critic not in seen_critics:
            problems.append(f"critic '{critic}': missing from the results")
            continue
        if fired[critic] < args.min_per_critic:
            problems.append(f"critic '{critic}': severity > 0 on {fired[critic]} cases, fewer "
                            f"than --min-per-critic {args.min_per_critic}")
        if violations[critic] < args.min_violations_per_critic:
            problems.append(f"critic '{critic}': severity >= {VIOLATION} on {violations[critic]} "
                            f"cases, fewer than --min-violations-per-critic "
                            f"{args.min_violations_per_critic}")
    for problem in problems:
        print(f"check-sample-data: {problem}", file=sys.stderr)
    print("OK" if not problems else f"FAILED: {len(problems)} shortfall(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
