package saga_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/courier-go/courier/saga"
	"github.com/courier-go/courier/saga/sagatest"
)

// fileStore is a MemoryStore written to a file after every change, so it outlives a killed
// process. Changes return only once written (atomically, by rename).
type fileStore struct {
	*saga.MemoryStore
	path string
	mu   sync.Mutex
}

func openFileStore(path string) (*fileStore, error) {
	var insts []saga.Instance
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		if err := json.Unmarshal(b, &insts); err != nil {
			return nil, fmt.Errorf("store file %s: %w", path, err)
		}
	}
	return &fileStore{MemoryStore: saga.MemoryFrom(insts), path: path}, nil
}

func (f *fileStore) persist() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := json.Marshal(saga.MemorySnapshot(f.MemoryStore))
	if err != nil {
		return err
	}
	if err := os.WriteFile(f.path+".tmp", b, 0o600); err != nil {
		return err
	}
	return os.Rename(f.path+".tmp", f.path)
}

func (f *fileStore) Create(ctx context.Context, inst saga.Instance) (saga.Instance, error) {
	got, err := f.MemoryStore.Create(ctx, inst)
	if err != nil {
		return got, err
	}
	return got, f.persist()
}

func (f *fileStore) Save(ctx context.Context, inst saga.Instance) (saga.Instance, error) {
	got, err := f.MemoryStore.Save(ctx, inst)
	if err != nil {
		return got, err
	}
	return got, f.persist()
}

func (f *fileStore) Claim(ctx context.Context, c saga.ClaimRequest) ([]saga.Instance, error) {
	got, err := f.MemoryStore.Claim(ctx, c)
	if err != nil || len(got) == 0 {
		return got, err
	}
	return got, f.persist()
}

// TestCrash runs sagatest's crash tests (orchestrators killed with SIGKILL at every step's
// action and compensation, and after sending a command) on a MemoryStore kept in a file.
func TestCrash(t *testing.T) {
	sagatest.RunCrash(t, sagatest.CrashStore{
		Create: func(t *testing.T) string { return filepath.Join(t.TempDir(), "store.json") },
		Open: func(t *testing.T, path string) saga.Store {
			s, err := openFileStore(path)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	})
}
