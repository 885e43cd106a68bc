#!/usr/bin/env python3
"""Check-digit helpers for writing fixtures by hand (GB 32100, GB 11643, GB/T 36904).

An independent implementation of the rules in docs/standards.md, used to make test vectors that
the Rust code is then checked against. Usage:
  scripts/codes.py credit 91621002MA71XXXXX   # 17 chars -> full 18-char credit code
  scripts/codes.py id 62100219850312123       # 17 digits -> full identity number
  scripts/codes.py certid TYPE21 AUTH18 SERIAL VER  # -> GB/T 36904 identifier
"""
import sys

CC_ALPHA = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CC_W = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
ID_W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def credit(body17):
    s = sum(CC_ALPHA.index(c) * w for c, w in zip(body17, CC_W))
    return body17 + CC_ALPHA[(31 - s % 31) % 31]


def idnum(body17):
    s = sum(int(c) * w for c, w in zip(body17, ID_W))
    return body17 + "10X98765432"[s % 11]


def mod37_36(s):
    alpha = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    p = 36
    for c in s:
        p = (p + alpha.index(c)) % 36
        if p == 0:
            p = 36
        p = (2 * p) % 37
    return alpha[(37 - p) % 36]


def certid(type_code, auth, serial, ver):
    return "1.2.156.3005.2.%s.%s.%s.%s.%s" % (type_code, auth, serial, ver, mod37_36(type_code + auth + serial + ver))


if __name__ == "__main__":
    kind, args = sys.argv[1], sys.argv[2:]
    print({"credit": credit, "id": idnum, "certid": certid}[kind](*args))
