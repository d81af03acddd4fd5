package pulsartest

import (
	_ "github.com/apache/pulsar-client-go/pulsar"
	_ "go.uber.org/goleak"
)
