package pgprojection

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// SetBeforeCommit makes s call f after a batch and its checkpoint were written and before
// the transaction commits.
func SetBeforeCommit(s *Store, f func(ctx context.Context, tx pgx.Tx) error) { s.beforeCommit = f }

// SetAfterCommit makes s call f after each Apply, PromoteShadow and ResetShadow that
// committed.
func SetAfterCommit(s *Store, f func()) { s.afterCommit = f }
