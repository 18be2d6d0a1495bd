;; A valid module that is not a WASI command (no _start): runwasm must refuse it clearly.
(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))
