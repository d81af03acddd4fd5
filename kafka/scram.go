package kafka

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// scram is a SCRAM client (RFC 5802) for sarama's SASL/SCRAM mechanisms. Sarama leaves the
// client to the application; this one keeps the adapter free of a further dependency.
type scram struct {
	h           func() hash.Hash
	user, pass  string
	step        int
	nonce       string
	clientFirst string // client-first-message-bare
	serverSig   []byte
	done        bool
}

func sha256Hash() hash.Hash { return sha256.New() }
func sha512Hash() hash.Hash { return sha512.New() }

func newSCRAM(h func() hash.Hash) *scram { return &scram{h: h} }

// Begin starts a conversation for user with password.
func (s *scram) Begin(user, password, authzID string) error {
	if authzID != "" {
		return errors.New("scram: authorization identities are not supported")
	}
	var b [18]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	esc := strings.NewReplacer("=", "=3D", ",", "=2C")
	*s = scram{h: s.h, user: user, pass: password, nonce: base64.RawStdEncoding.EncodeToString(b[:])}
	s.clientFirst = "n=" + esc.Replace(user) + ",r=" + s.nonce
	return nil
}

// Step answers the server's challenge.
func (s *scram) Step(challenge string) (string, error) {
	s.step++
	switch s.step {
	case 1:
		return "n,," + s.clientFirst, nil
	case 2:
		return s.final(challenge)
	case 3:
		attrs := scramAttrs(challenge)
		if e, ok := attrs["e"]; ok {
			return "", fmt.Errorf("scram: server refused authentication: %s", e)
		}
		sig, err := base64.StdEncoding.DecodeString(attrs["v"])
		if err != nil || subtle.ConstantTimeCompare(sig, s.serverSig) != 1 {
			return "", errors.New("scram: server signature does not match: the server does not know the password")
		}
		s.done = true
		return "", nil
	}
	return "", errors.New("scram: conversation has no further step")
}

// final returns the client-final-message for the server-first-message.
func (s *scram) final(serverFirst string) (string, error) {
	attrs := scramAttrs(serverFirst)
	nonce, salt64, iters := attrs["r"], attrs["s"], attrs["i"]
	if !strings.HasPrefix(nonce, s.nonce) || len(nonce) == len(s.nonce) {
		return "", errors.New("scram: server nonce does not extend the client's")
	}
	salt, err := base64.StdEncoding.DecodeString(salt64)
	if err != nil {
		return "", fmt.Errorf("scram: bad salt: %w", err)
	}
	n, err := strconv.Atoi(iters)
	if err != nil || n < 1 {
		return "", fmt.Errorf("scram: bad iteration count %q", iters)
	}
	salted, err := pbkdf2.Key(s.h, s.pass, salt, n, s.h().Size())
	if err != nil {
		return "", fmt.Errorf("scram: %w", err)
	}
	withoutProof := "c=" + base64.StdEncoding.EncodeToString([]byte("n,,")) + ",r=" + nonce
	authMsg := []byte(s.clientFirst + "," + serverFirst + "," + withoutProof)
	clientKey := s.hmac(salted, []byte("Client Key"))
	stored := s.h()
	stored.Write(clientKey)
	proof := s.hmac(stored.Sum(nil), authMsg)
	for i := range proof {
		proof[i] ^= clientKey[i]
	}
	s.serverSig = s.hmac(s.hmac(salted, []byte("Server Key")), authMsg)
	return withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof), nil
}

func (s *scram) hmac(key, msg []byte) []byte {
	m := hmac.New(s.h, key)
	m.Write(msg)
	return m.Sum(nil)
}

// Done reports whether the server's signature was verified.
func (s *scram) Done() bool { return s.done }

func scramAttrs(msg string) map[string]string {
	attrs := map[string]string{}
	for _, kv := range strings.Split(msg, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			attrs[k] = v
		}
	}
	return attrs
}
