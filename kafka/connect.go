package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/courier-go/courier"
)

func init() {
	// sarama logs to a process-wide logger, which discards by default. Route it through
	// slog.Default() at Debug level (it is chatty: every connection and metadata refresh), so
	// that nothing of it bypasses slog. A program that sets sarama.Logger itself (after init)
	// keeps its own.
	if std, ok := sarama.Logger.(*log.Logger); ok && std.Writer() == io.Discard {
		sarama.Logger = saramaLog{}
	}
}

// saramaLog is a sarama.StdLogger that writes to slog.Default() at Debug level.
type saramaLog struct{}

func (saramaLog) Print(v ...any)                 { saramaLog{}.write(fmt.Sprint(v...)) }
func (saramaLog) Printf(format string, v ...any) { saramaLog{}.write(fmt.Sprintf(format, v...)) }
func (saramaLog) Println(v ...any)               { saramaLog{}.write(fmt.Sprintln(v...)) }

func (saramaLog) write(s string) {
	slog.Default().Debug(strings.TrimSpace(s), "source", "sarama")
}

// connect makes the client of a Broker New opens, retrying with backoff (and logging each
// failure to log) until a broker answers, the credentials are refused, ctx ends or
// cfg.ConnectTimeout passes. Its error names the brokers and the cause.
func connect(ctx context.Context, cfg Config, sc *sarama.Config, log *slog.Logger) (sarama.Client, error) {
	addrs := strings.Join(cfg.Brokers, ",")
	cctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	var last error
	for attempt := 1; ; attempt++ {
		c, err := dial(cctx, cfg.Brokers, sc)
		if err == nil {
			return c, nil
		}
		if last == nil || cctx.Err() == nil {
			last = err // the library's cause, rather than the deadline that cut it short
		}
		if cctx.Err() == nil && authFailed(err, cfg, sc) {
			return nil, fmt.Errorf("kafka: connect %s: %w (SASL %s as user %q): %w",
				addrs, courier.ErrAuthentication, strings.ToUpper(cfg.SASL.Mechanism), cfg.SASL.User, err)
		}
		if cctx.Err() != nil {
			break
		}
		log.Warn("kafka: connect failed; retrying", "brokers", addrs, "attempt", attempt, "error", err)
		t := time.NewTimer(min(100*time.Millisecond<<min(attempt, 5), time.Second))
		select {
		case <-t.C:
		case <-cctx.Done():
			t.Stop()
		}
		if cctx.Err() != nil {
			break
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("kafka: connect %s: %w (last error: %v)", addrs, err, last)
	}
	if errors.Is(last, context.DeadlineExceeded) {
		// sarama was still waiting for an answer: the port takes connections but does not
		// speak Kafka, or the broker hangs.
		last = errors.New("no answer to a Kafka request (a port that is not Kafka's, or a broker that does not answer)")
	}
	return nil, fmt.Errorf("kafka: connect %s: no Kafka broker answered within %v (Config.ConnectTimeout): %w",
		addrs, cfg.ConnectTimeout, last)
}

// authFailed reports whether err, a failure to make a client, comes from refused SASL
// credentials. Kafka answers a failed SASL authentication with an error code and closes the
// connection, and some brokers only close it (sarama then reports EOF): so when SASL is on
// and a broker answers the same request without it, the credentials are what failed.
func authFailed(err error, cfg Config, sc *sarama.Config) bool {
	if errors.Is(err, sarama.ErrSASLAuthenticationFailed) || errors.Is(err, sarama.ErrUnsupportedSASLMechanism) {
		return true
	}
	if !sc.Net.SASL.Enable || !errors.Is(err, io.EOF) {
		return false
	}
	plain := *sc
	plain.Net.SASL.Enable = false
	plain.Net.SASL.User, plain.Net.SASL.Password = "", ""
	plain.Net.ReadTimeout = cfg.DialTimeout
	plain.Net.WriteTimeout = cfg.DialTimeout
	for _, addr := range cfg.Brokers {
		br := sarama.NewBroker(addr)
		if br.Open(&plain) != nil {
			continue
		}
		_, err := br.ApiVersions(&sarama.ApiVersionsRequest{})
		_ = br.Close()
		if err == nil {
			return true
		}
	}
	return false
}
