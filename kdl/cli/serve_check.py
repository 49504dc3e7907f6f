"""``kdl serve-check EXPORT``: the export's request.json through every image signature,
compared with its expected.json (exit 0, or one line and exit 2)."""

from __future__ import annotations

from kdl.cli.common import print_json


def add_parser(sub) -> None:
    p = sub.add_parser("serve-check", help="send an export's request.json through its "
                                           "signatures and compare with expected.json")
    p.add_argument("export_dir", help="a version directory, or the recipe's (latest version)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    from kdl.serving import serve_check

    result = serve_check(args.export_dir)
    if args.json:
        print_json(result)
    else:
        diffs = ", ".join(f"{k} {v:.1e}" for k, v in result["max_abs_diff"].items())
        print(f"{result['export']}: {result['instances']} instances answered as expected.json "
              f"says by {len(result['max_abs_diff'])} signatures (largest difference: {diffs}; "
              f"tolerance {result['tolerance']:g})")
    return 0
