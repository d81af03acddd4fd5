package pulsar

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	pulsarclient "github.com/apache/pulsar-client-go/pulsar"
	plog "github.com/apache/pulsar-client-go/pulsar/log"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/driver"
)

func init() {
	open := func(ctx context.Context, u *url.URL) (courier.Broker, error) {
		cfg, err := ParseURL(u)
		if err != nil {
			return nil, err
		}
		return New(ctx, cfg)
	}
	courier.Register("pulsar", open)
	courier.Register("pulsar+ssl", open)
}

// Broker is a connection to a Pulsar cluster. It is safe for concurrent use.
type Broker struct {
	cfg    Config
	client pulsarclient.Client
	owned  bool // made by New: Close closes it
	log    *slog.Logger

	members driver.Owned // producers and consumers, closed with the broker
}

var _ courier.Broker = (*Broker)(nil)

// New connects to the cluster at cfg.URL and checks that a broker answers there (a lookup,
// which needs the connection, the handshake and the authentication to succeed). It fails,
// naming the address and the cause, when none answered within cfg.ConnectTimeout (even if
// ctx has no deadline) or before ctx ends, and wraps courier.ErrAuthentication when the
// broker refuses the credentials. The client's own warnings and errors (among them each
// failed connection attempt) go to cfg.Logger.
func New(ctx context.Context, cfg Config) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.URL == "" {
		return nil, fmt.Errorf("pulsar: new broker: %w: Config.URL is empty (NewWithClient takes a client of your own)", courier.ErrInvalidConfig)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("pulsar: new broker: %w", err)
	}
	cfg = cfg.withDefaults()
	if err := check(ctx, cfg); err != nil {
		return nil, err
	}
	client, err := pulsarclient.NewClient(clientOptions(cfg, cfg.OperationTimeout))
	if err != nil {
		return nil, fmt.Errorf("pulsar: connect %s: %w", redact(cfg.URL), err)
	}
	return newBroker(client, true, cfg), nil
}

// NewWithClient returns a Broker on a Pulsar client the caller made and owns: the Broker
// never closes it; the caller does, after closing the Broker. The connection settings of cfg
// (URL, timeouts, TLS, authentication) are ignored, as the client has its own; the others
// (subscription type, batching, compression, limits, Logger...) apply. The client logs where
// its own ClientOptions.Logger says; the Broker's producers and consumers log to cfg.Logger.
func NewWithClient(client pulsarclient.Client, cfg Config) (*Broker, error) {
	if client == nil {
		return nil, fmt.Errorf("pulsar: new broker: %w: NewWithClient needs a client", courier.ErrInvalidConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return newBroker(client, false, cfg.withDefaults()), nil
}

// clientOptions returns the options of a client for cfg (which has its defaults), with
// operation timeout op.
func clientOptions(cfg Config, op time.Duration) pulsarclient.ClientOptions {
	opts := pulsarclient.ClientOptions{
		URL:                        cfg.URL,
		OperationTimeout:           op,
		ConnectionTimeout:          min(cfg.ConnectionTimeout, op),
		TLSTrustCertsFilePath:      cfg.TLSTrustCertsFile,
		TLSAllowInsecureConnection: cfg.TLSAllowInsecure,
		Logger:                     plog.NewLoggerWithSlog(slog.New(warnOnly{cfg.Logger.Handler()})),
	}
	switch {
	case cfg.Token != "":
		opts.Authentication = pulsarclient.NewAuthenticationToken(cfg.Token)
	case cfg.TLSCertFile != "":
		opts.Authentication = pulsarclient.NewAuthenticationTLS(cfg.TLSCertFile, cfg.TLSKeyFile)
	case len(cfg.OAuth2) > 0:
		opts.Authentication = pulsarclient.NewAuthenticationOAuth2(cfg.OAuth2)
	}
	return opts
}

func newBroker(client pulsarclient.Client, owned bool, cfg Config) *Broker {
	return &Broker{cfg: cfg, client: client, owned: owned, log: cfg.Logger.With("broker", "pulsar")}
}

// As is the escape hatch to the pulsar-client-go client under the Broker, for the calls
// courier does not cover (readers, table views, topic partitions...). target must be a
// *pulsar.Client (of github.com/apache/pulsar-client-go/pulsar): As sets it and reports true;
// for any other target it reports false. When New made the client it stays the Broker's: do
// not close it.
//
//	var c pulsar.Client
//	if b.As(&c) { parts, err := c.TopicPartitions("orders") }
func (b *Broker) As(target any) bool {
	t, ok := target.(*pulsarclient.Client)
	if ok && t != nil {
		*t = b.client
	}
	return ok && t != nil
}

// NewProducer returns a producer. Pulsar producers are created per topic on
// first use and kept until Close.
func (b *Broker) NewProducer(_ context.Context) (courier.Producer, error) {
	p := newProducer(b)
	if err := b.members.Add(p); err != nil {
		return nil, err // p holds nothing yet: no Pulsar producer is made before a Send
	}
	return p, nil
}

// NewConsumer subscribes cfg.Group to cfg.Topics, creating the subscription
// if needed, so that messages sent from now on are kept for the group.
//
// The consumer has an As method, like the Broker's, that hands out its
// pulsar.Consumer (the consumer stays courier's: do not close it):
//
//	var pc pulsar.Consumer
//	if a, ok := c.(interface{ As(any) bool }); ok && a.As(&pc) { err = pc.SeekByTime(t) }
func (b *Broker) NewConsumer(_ context.Context, cfg courier.ConsumerConfig) (courier.Consumer, error) {
	cfg, err := driver.ConsumerConfig("pulsar", cfg, b.cfg.Logger)
	if err != nil {
		return nil, err
	}
	if b.members.Closed() {
		return nil, courier.ErrClosed
	}
	c, err := newConsumer(b, cfg)
	if err != nil {
		return nil, err
	}
	if err := b.members.Add(c); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// Close closes every producer and consumer made from b, then the client if New made it.
// Idempotent.
func (b *Broker) Close() error {
	first, err := b.members.Close()
	if first && b.owned {
		b.client.Close()
	}
	return err
}

// redact drops credentials from a URL for error messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// warnOnly passes the client's warnings and errors on, not its chatty
// connection and lookup info.
type warnOnly struct{ slog.Handler }

func (h warnOnly) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && h.Handler.Enabled(ctx, l)
}

func (h warnOnly) WithAttrs(a []slog.Attr) slog.Handler { return warnOnly{h.Handler.WithAttrs(a)} }

func (h warnOnly) WithGroup(n string) slog.Handler { return warnOnly{h.Handler.WithGroup(n)} }
