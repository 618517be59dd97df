"""Puts a Markdown table into a document between the markers
`<!-- bench:NAME:begin -->` and `<!-- bench:NAME:end -->` (appended with
them when they are missing). Shared by the benchmark reports."""
import os


def put_table(doc, name, table):
    begin, end = f"<!-- bench:{name}:begin -->", f"<!-- bench:{name}:end -->"
    text = open(doc).read() if os.path.exists(doc) else ""
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{begin}\n{table}{end}{tail}"
    else:
        text += f"\n{begin}\n{table}{end}\n"
    with open(doc, "w") as f:
        f.write(text)
