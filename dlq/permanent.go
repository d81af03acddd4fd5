package dlq

import "github.com/courier-go/courier"

// Permanent is courier.Permanent, kept here for code written against earlier versions: the
// consumer gives a message whose handler returned it to OnExhausted (the dead-letter hook)
// at once, without retries.
func Permanent(err error) error { return courier.Permanent(err) }

// IsPermanent is courier.IsPermanent.
func IsPermanent(err error) bool { return courier.IsPermanent(err) }
