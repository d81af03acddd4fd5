package kafka

import (
	"context"
	"errors"
	"fmt"

	"github.com/IBM/sarama"
)

// partitions returns the partitions of each topic, failing with a clear error for a topic
// the cluster does not have.
func (b *Broker) partitions(topics []string) (map[string][]int32, error) {
	parts := make(map[string][]int32, len(topics))
	for _, t := range topics {
		ps, err := b.client.Partitions(t)
		if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
			if rerr := b.client.RefreshMetadata(t); rerr == nil {
				ps, err = b.client.Partitions(t)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("kafka: new consumer %s: %w (create the topic first, or set Config.CreateTopics)", t, err)
		}
		parts[t] = ps
	}
	return parts, nil
}

// commitNewest makes a StartNewest group start at the current end of every partition it has
// no committed offset for, by committing that end for it now. Without it the group's first
// member would resolve "newest" only when it joins, and a message sent between NewConsumer
// and Consume would be skipped. Partitions the group already committed keep their offset.
// If the group has active members the coordinator refuses a commit from outside it; then
// those members have resolved their own start offsets already, and that is not an error.
func (b *Broker) commitNewest(ctx context.Context, group string, parts map[string][]int32) error {
	fetched, err := b.admin.ListConsumerGroupOffsets(group, parts)
	if errors.Is(err, sarama.ErrGroupIDNotFound) {
		// Some brokers answer so for a group that never existed: it has no offsets.
		fetched, err = &sarama.OffsetFetchResponse{}, nil
	}
	if err != nil {
		return fmt.Errorf("kafka: new consumer group %q: fetch committed offsets: %w", group, err)
	}
	req := sarama.NewOffsetCommitRequest(b.client.Config(), group)
	n := 0
	for t, ps := range parts {
		for _, p := range ps {
			if blk := fetched.GetBlock(t, p); blk != nil && blk.Err == sarama.ErrNoError && blk.Offset >= 0 {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			end, err := b.client.GetOffset(t, p, sarama.OffsetNewest)
			if err != nil {
				return fmt.Errorf("kafka: new consumer group %q: end offset of %s partition %d: %w", group, t, p, err)
			}
			req.AddBlock(t, p, end, 0, "")
			n++
		}
	}
	if n == 0 {
		return nil
	}
	// A coordinator that moved or is still loading the group's offsets answers with a
	// retriable error: find it again and retry a few times.
	var kerr sarama.KError
	for attempt := range 4 {
		if attempt > 0 {
			if err := b.client.RefreshCoordinator(group); err != nil {
				return fmt.Errorf("kafka: new consumer group %q: find coordinator: %w", group, err)
			}
		}
		if kerr, err = b.commitOnce(group, req); err != nil {
			return err
		}
		switch kerr {
		case sarama.ErrNoError, sarama.ErrUnknownMemberId, sarama.ErrIllegalGeneration, sarama.ErrRebalanceInProgress:
			return nil
		case sarama.ErrNotCoordinatorForConsumer, sarama.ErrConsumerCoordinatorNotAvailable, sarama.ErrOffsetsLoadInProgress:
			continue
		}
		break
	}
	return fmt.Errorf("kafka: new consumer group %q: commit start offsets: %w", group, kerr)
}

// commitOnce sends req to the group's coordinator and returns the first partition error.
func (b *Broker) commitOnce(group string, req *sarama.OffsetCommitRequest) (sarama.KError, error) {
	coord, err := b.client.Coordinator(group)
	if err != nil {
		return 0, fmt.Errorf("kafka: new consumer group %q: coordinator: %w", group, err)
	}
	resp, err := coord.CommitOffset(req)
	if err != nil {
		return 0, fmt.Errorf("kafka: new consumer group %q: commit start offsets: %w", group, err)
	}
	for _, ps := range resp.Errors {
		for _, kerr := range ps {
			if kerr != sarama.ErrNoError {
				return kerr, nil
			}
		}
	}
	return sarama.ErrNoError, nil
}
