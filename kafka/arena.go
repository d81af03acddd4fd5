package kafka

import "unsafe"

// strArena makes the strings of consumed records (IDs, keys, header names and values) out of
// shared 4 KiB chunks instead of one allocation each: at a million records a second, a
// consumer's cost per message is mostly allocations. A string keeps its chunk alive, which
// costs a handler that keeps IDs no more than an allocation of its own would. Not safe for
// concurrent use: each partition claim has its own.
type strArena struct{ buf []byte }

const (
	arenaChunk = 4 << 10
	arenaMax   = arenaChunk / 16 // longer strings get an allocation of their own
)

// take returns n bytes for the caller to fill, once, before making a string of them.
func (a *strArena) take(n int) []byte {
	if n > arenaMax {
		return make([]byte, n)
	}
	if cap(a.buf)-len(a.buf) < n {
		a.buf = make([]byte, 0, arenaChunk)
	}
	start := len(a.buf)
	a.buf = a.buf[:start+n]
	return a.buf[start : start+n : start+n]
}

// str returns b as a string without copying it: b is never written again.
func str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// copy returns a string of b's bytes.
func (a *strArena) copy(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	d := a.take(len(b))
	copy(d, b)
	return str(d)
}

// uuid returns the canonical lowercase form of the 16 bytes of u.
func (a *strArena) uuid(u *[16]byte) string {
	d := a.take(36)
	hexPairs(d[0:8], u[0:4])
	d[8] = '-'
	hexPairs(d[9:13], u[4:6])
	d[13] = '-'
	hexPairs(d[14:18], u[6:8])
	d[18] = '-'
	hexPairs(d[19:23], u[8:10])
	d[23] = '-'
	hexPairs(d[24:36], u[10:16])
	return str(d)
}

// hexPairs writes the lowercase hex digits of src to dst, which is twice as long.
func hexPairs(dst, src []byte) {
	for i, b := range src {
		p := &hexTable[b]
		dst[2*i], dst[2*i+1] = p[0], p[1]
	}
}

// hexTable holds the two hex digits of every byte.
var hexTable = func() (t [256][2]byte) {
	const digits = "0123456789abcdef"
	for b := range t {
		t[b] = [2]byte{digits[b>>4], digits[b&0xf]}
	}
	return t
}()
