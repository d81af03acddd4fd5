package kafka

// A message ID in the canonical lowercase UUID form (what courier.NewID makes) travels as its
// 16 bytes in HeaderUUID instead of its 36 characters in HeaderID: the hex text is random
// and does not compress, and on small or compressible values it was the larger part of the
// record (a fifth of the producer's throughput with 1 KiB values). Any other ID travels as
// it is, so every ID comes back exactly as it was sent.

const hexDigits = "0123456789abcdef"

// packUUID writes the 16 bytes of id into dst and reports whether id is a UUID in canonical
// lowercase form, the only form unpackUUID gives back unchanged.
func packUUID(id string, dst *[16]byte) bool {
	if len(id) != 36 || id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-' {
		return false
	}
	j := 0
	for i := 0; i < 36; i += 2 {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i++
		}
		hi, lo := unhex(id[i]), unhex(id[i+1])
		if hi > 15 || lo > 15 {
			return false
		}
		dst[j] = hi<<4 | lo
		j++
	}
	return true
}

// unhex returns the value of a lowercase hex digit, or 255.
func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return 255
}

// unpackUUID returns the canonical form of 16 bytes.
func unpackUUID(b []byte) string {
	var s [36]byte
	j := 0
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			s[j] = '-'
			j++
		}
		s[j], s[j+1] = hexDigits[c>>4], hexDigits[c&0x0f]
		j += 2
	}
	return string(s[:])
}
