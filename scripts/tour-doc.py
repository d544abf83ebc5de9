#!/usr/bin/env python3
"""Renders examples/tour.sh as docs/api.md, so the API's documentation is the script CI runs.

    python3 scripts/tour-doc.py           # rewrite docs/api.md
    python3 scripts/tour-doc.py --check   # exit 1 when docs/api.md is not what the script gives

Lines starting with `#:` are the prose (Markdown, the prefix removed); every other run of lines
is shown as a shell block, as it stands in the script. The shebang is left out.
"""
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "examples" / "tour.sh"
DOC = ROOT / "docs" / "api.md"


def render(script: str) -> str:
    out, code = [], []

    def flush_code():
        while code and not code[-1].strip():
            code.pop()
        while code and not code[0].strip():
            code.pop(0)
        if code:
            out.extend(["", "```sh", *code, "```", ""])
        code.clear()

    for line in script.splitlines():
        if line.startswith("#!"):
            continue
        if line.startswith("#:"):
            flush_code()
            out.append(line[3:] if line.startswith("#: ") else line[2:])
        else:
            code.append(line)
    flush_code()
    text = "\n".join(out)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip() + "\n"


def main() -> int:
    wanted = render(SCRIPT.read_text())
    if sys.argv[1:] == ["--check"]:
        if DOC.read_text() != wanted:
            print(f"{DOC.relative_to(ROOT)} differs from {SCRIPT.relative_to(ROOT)}: "
                  "run python3 scripts/tour-doc.py", file=sys.stderr)
            return 1
        return 0
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
