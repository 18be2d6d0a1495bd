;; A module that exhausts a memory limit while it is instantiated: its start function (run by
;; instantiation, before _start) writes all of its 128 MiB initial memory. Under a smaller
;; container memory limit it is OOM-killed during instantiate (scripts/stress.py faults).
(module
  (memory 2048)
  (func $fill
    (memory.fill (i32.const 0) (i32.const 1) (i32.const 134217728)))
  (start $fill)
  (func (export "_start")))
