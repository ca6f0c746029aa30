#!/usr/bin/env python3
"""NFC-normalizes text for test_tokenizer.c with Python's unicodedata (the
same Unicode version as lmforge's tables). One string per line, as the hex
of its UTF-8 bytes, on stdin; the normalized strings, the same way, on stdout."""
import sys
import unicodedata

for line in sys.stdin:
    text = bytes.fromhex(line.strip()).decode("utf-8")
    print(unicodedata.normalize("NFC", text).encode("utf-8").hex())
