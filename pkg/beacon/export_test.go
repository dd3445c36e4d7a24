package beacon

// SlowOnly returns a copy of d that never takes the fast path: generic
// decode and JSON Schema validation for every payload.
func (d *Decoder) SlowOnly() *Decoder {
	c := *d
	c.slow = true
	return &c
}

// FastDecode exposes the fast path to tests.
func FastDecode(raw []byte) (Beacon, bool) { return fastDecode(raw) }
