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
			return nil, fmt.Errorf("%s: topic %q: %w (create it first, or set Config.CreateTopics)", b.name, t, err)
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
		return fmt.Errorf("%s: group %q: fetch committed offsets: %w", b.name, group, err)
	}
	req := sarama.NewOffsetCommitRequest(b.sc, group)
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
				return fmt.Errorf("%s: topic %q partition %d: end offset: %w", b.name, t, p, err)
			}
			req.AddBlock(t, p, end, 0, "")
			n++
		}
	}
	if n == 0 {
		return nil
	}
	coord, err := b.client.Coordinator(group)
	if err != nil {
		return fmt.Errorf("%s: group %q: coordinator: %w", b.name, group, err)
	}
	resp, err := coord.CommitOffset(req)
	if err != nil {
		return fmt.Errorf("%s: group %q: commit start offsets: %w", b.name, group, err)
	}
	for t, ps := range resp.Errors {
		for p, kerr := range ps {
			switch kerr {
			case sarama.ErrNoError, sarama.ErrUnknownMemberId, sarama.ErrIllegalGeneration, sarama.ErrRebalanceInProgress:
			default:
				return fmt.Errorf("%s: group %q: commit start offset of topic %q partition %d: %w", b.name, group, t, p, kerr)
			}
		}
	}
	return nil
}
