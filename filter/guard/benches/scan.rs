fn main() {} // placeholder until the scan bench lands
