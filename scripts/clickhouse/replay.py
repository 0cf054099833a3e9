"""Replays a record of the statements Tally's ClickHouse store sent (JSON lines
written with ClickHouseConfig::record_to) on the ClickHouse engine of PyPI's
chdb-core, in order, database by database, and checks that every query gives
the same answer there as it gave on the server it was recorded against.

usage: python replay.py RECORD

Answers are compared as values (numbers within 1e-9, as text otherwise), as
multisets of rows: the conformance suite checks orders on the server itself.
Queries of system tables (progress of deletions) are run, not compared.
Exits 1 on the first statement that fails or answers differently.
"""

import json
import math
import sys
import tempfile

from chdb import session


def norm(v):
    if v is None:
        return None
    if isinstance(v, list):
        return [norm(x) for x in v]
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return v
    return v


def same(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return a == b or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def rows_key(row):
    return json.dumps(row, sort_keys=True, default=str)


def same_rows(recorded, replayed):
    a = sorted((norm(r) for r in recorded), key=rows_key)
    b = sorted((norm(r) for r in replayed), key=rows_key)
    return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))


def main(path):
    entries = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
    order = []
    by_db = {}
    for e in entries:
        db = e.get("db")
        if db not in by_db:
            by_db[db] = []
            order.append(db)
        by_db[db].append(e)
    statements = compared = 0
    with tempfile.TemporaryDirectory() as home:
        s = session.Session(home)
        version = s.query("SELECT version()", "CSV").bytes().decode().strip().strip('"')
        for e in by_db.get(None, []):
            s.query(e["sql"])
            statements += 1
        for db in order:
            if db is None:
                continue
            s.query(f"CREATE DATABASE IF NOT EXISTS {db}")
            s.query(f"USE {db}")
            for e in by_db[db]:
                sql = e["sql"]
                statements += 1
                try:
                    if "data" in e:
                        body = "\n".join(json.dumps(r) for r in e["data"])
                        s.query(sql + "\n" + body)
                    elif "rows" in e:
                        answer = json.loads(s.query(sql, "JSONCompact").bytes() or b'{"data": []}')
                        if "system." in sql:
                            continue
                        compared += 1
                        if not same_rows(e["rows"], answer["data"]):
                            print(f"DIFFERENT ANSWER on ClickHouse {version} in {db}:\n  {sql}\n"
                                  f"  recorded: {e['rows']}\n  replayed: {answer['data']}")
                            return 1
                    else:
                        s.query(sql)
                except Exception as err:  # chdb raises its own error types
                    print(f"FAILED on ClickHouse {version} in {db}:\n  {sql[:2000]}\n  {err}")
                    return 1
        s.close()
    print(f"replayed {statements} statements ({compared} answers compared) of {len(order)} "
          f"databases on ClickHouse {version}: all the same")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
