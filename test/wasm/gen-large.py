#!/usr/bin/env python3
"""Writes a large WASI command module as WAT (a few MB of code once assembled): many
distinct functions, so compiling it costs what a real application's module costs.

usage: gen-large.py OUT.wat [FUNCTIONS]
"""
import sys

out, count = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 50000
with open(out, "w") as f:
    f.write('(module\n (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))\n')
    f.write(' (memory (export "memory") 1)\n (data (i32.const 64) "large module ran\\n")\n')
    for i in range(count):
        # a little arithmetic and control flow per function, each one different
        f.write(f' (func $f{i} (param $x i32) (result i32) (local $a i32)\n')
        f.write(f'  (local.set $a (i32.mul (local.get $x) (i32.const {i * 7 + 3})))\n')
        f.write(f'  (if (i32.gt_u (local.get $a) (i32.const {i * 13 + 1}))\n')
        f.write(f'   (then (local.set $a (i32.xor (local.get $a) (i32.const {i * 31 + 5})))))\n')
        f.write(f'  (i32.add (local.get $a) (i32.rotl (local.get $x) (i32.const {i % 31}))))\n')
    f.write(' (func (export "_start") (local $acc i32)\n')
    for i in range(0, count, max(1, count // 64)):
        f.write(f'  (local.set $acc (call $f{i} (local.get $acc)))\n')
    f.write('  (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 17))\n')
    f.write('  (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))\n')
