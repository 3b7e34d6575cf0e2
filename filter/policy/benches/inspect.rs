fn main() {} // placeholder: the benchmark harness fills this in
