package kafka

import (
	"context"
	"errors"
	"fmt"

	"github.com/IBM/sarama"
	"github.com/courier-go/courier"
)

// CreateTopic creates topic with the given number of partitions and replication factor
// (0 for either means the cluster's default). A topic that already exists is not an error.
func (b *Broker) CreateTopic(ctx context.Context, topic string, partitions int32, replication int16) error {
	if topic == "" {
		return fmt.Errorf("kafka: create topic: %w: empty topic name", courier.ErrInvalidConfig)
	}
	if partitions < 0 || replication < 0 {
		return fmt.Errorf("kafka: create topic %s: %w: negative partitions %d or replication %d",
			topic, courier.ErrInvalidConfig, partitions, replication)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	detail := &sarama.TopicDetail{NumPartitions: -1, ReplicationFactor: -1}
	if partitions > 0 {
		detail.NumPartitions = partitions
	}
	if replication > 0 {
		detail.ReplicationFactor = replication
	}
	err := b.admin.CreateTopic(topic, detail, false)
	var te *sarama.TopicError
	if errors.As(err, &te) && te.Err == sarama.ErrTopicAlreadyExists {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("kafka: create topic %s: %w", topic, err)
	}
	// Make the new topic visible to this client's metadata before it is used.
	if err := b.client.RefreshMetadata(topic); err != nil {
		return fmt.Errorf("kafka: create topic %s: created, but its metadata: %w", topic, err)
	}
	return nil
}

// ensureTopic creates topic as Config says, once per broker.
func (b *Broker) ensureTopic(ctx context.Context, topic string) error {
	if _, ok := b.created.Load(topic); ok {
		return nil
	}
	if err := b.CreateTopic(ctx, topic, b.cfg.TopicPartitions, b.cfg.TopicReplication); err != nil {
		return err
	}
	b.created.Store(topic, struct{}{})
	return nil
}
