package pulsar

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"

	pulsarclient "github.com/apache/pulsar-client-go/pulsar"
	plog "github.com/apache/pulsar-client-go/pulsar/log"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/driver"
)

func init() {
	open := func(_ context.Context, u *url.URL) (courier.Broker, error) {
		cfg, err := ParseURL(u)
		if err != nil {
			return nil, err
		}
		return New(cfg)
	}
	courier.Register("pulsar", open)
	courier.Register("pulsar+ssl", open)
}

// Broker is a connection to a Pulsar cluster. It is safe for concurrent use.
type Broker struct {
	cfg    Config
	client pulsarclient.Client
	log    *slog.Logger

	members driver.Owned // producers and consumers, closed with the broker
}

var _ courier.Broker = (*Broker)(nil)

// New connects to the cluster at cfg.URL. The client connects lazily: an
// unreachable broker shows on the first producer or consumer.
func New(cfg Config) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	opts := pulsarclient.ClientOptions{
		URL:                        cfg.URL,
		OperationTimeout:           cfg.OperationTimeout,
		ConnectionTimeout:          cfg.ConnectionTimeout,
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
	client, err := pulsarclient.NewClient(opts)
	if err != nil {
		return nil, fmt.Errorf("pulsar: client for %s: %w", redact(cfg.URL), err)
	}
	return &Broker{
		cfg:    cfg,
		client: client,
		log:    cfg.Logger.With("broker", "pulsar"),
	}, nil
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

// Close closes every producer and consumer made from b, then the client.
// Idempotent.
func (b *Broker) Close() error {
	first, err := b.members.Close()
	if first {
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
