package supervisor

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Buckets of the store. Each value is JSON.
var (
	bucketMeta      = []byte("meta")      // agent_id
	bucketInstances = []byte("instances") // name → instanceRecord
	bucketSpecs     = []byte("specs")     // unit version → specRecord
	bucketEvents    = []byte("events")    // id (8 bytes, big endian) → Event
	bucketHosts     = []byte("hosts")     // name → hostRecord
	bucketUnits     = []byte("units")     // name → unitRecord
	bucketJobs      = []byte("jobs")      // name → jobRecord
	bucketCrons     = []byte("crons")     // cron unit name → cronRecord
	bucketValid     = []byte("valid")     // unit name → specRecord: its file's last valid version
	bucketDeleted   = []byte("deleted")   // unit name → DeletedUnit: a deleted unit's last version
)

// Store is the agent's durable state: one bbolt file. Writes go through a
// coalescing writer goroutine: put and del only queue, and every queued
// change is encoded and committed in the next transaction, so the
// reconcile loop never waits on fsync or JSON, a value changed ten times
// before the writer gets to it is encoded once, and a burst of 1000
// changes is one commit. Flush waits for everything queued so far to be
// on disk.
//
// Methods are safe for concurrent use. Close flushes and ends the writer.
type Store struct {
	db  *bolt.DB
	log *slog.Logger

	mu      sync.Mutex
	pending map[string]map[string]any // bucket → key → value to encode (deleted: a delete)
	waiters []chan error
	kick    chan struct{}
	// flushNow cuts short the writer's gathering: Flush or Close is
	// waiting.
	flushNow chan struct{}
	done     chan struct{}
	closed   bool
}

// gatherFor is how long the writer gathers changes before it commits, when
// nobody waits for the commit. A kill -9 loses at most what was queued in
// this time (and the commit under way), as it would lose what was queued
// during a commit anyway.
const gatherFor = 5 * time.Millisecond

// deleted marks a pending delete.
type deleted struct{}

// OpenStore opens (creating) the store at dir/tend.db. A second agent on
// the same state directory fails here instead of corrupting it.
func OpenStore(dir string, log *slog.Logger) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	path := filepath.Join(dir, "tend.db")
	db, err := openBolt(path)
	if err != nil {
		return nil, err
	}
	if db, err = compactIfWasteful(db, path, log); err != nil {
		return nil, err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketInstances, bucketSpecs, bucketEvents, bucketHosts, bucketUnits, bucketJobs, bucketCrons, bucketValid, bucketDeleted} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s := &Store{
		db:       db,
		log:      log,
		pending:  map[string]map[string]any{},
		kick:     make(chan struct{}, 1),
		flushNow: make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	go s.writer()
	return s, nil
}

// AgentID returns the agent's identity, made on first use and kept. The
// agent marks every instance's environment with it so that a restarted
// agent can find what its predecessor left running.
func (s *Store) AgentID() (string, error) {
	var id string
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMeta)
		if v := b.Get([]byte("agent_id")); v != nil {
			id = string(v)
			return nil
		}
		var buf [12]byte
		if _, err := rand.Read(buf[:]); err != nil {
			return err
		}
		id = hex.EncodeToString(buf[:])
		return b.Put([]byte("agent_id"), []byte(id))
	})
	return id, err
}

// put queues v, to be stored as JSON at bucket/key. v is encoded later,
// on the writer's goroutine: it must be a value the caller does not change
// afterwards (a struct copy, whose maps and slices are never changed in
// place).
func (s *Store) put(bucket []byte, key string, v any) { s.queue(bucket, key, v) }

// del queues the removal of bucket/key.
func (s *Store) del(bucket []byte, key string) { s.queue(bucket, key, deleted{}) }

func (s *Store) queue(bucket []byte, key string, v any) {
	s.mu.Lock()
	m := s.pending[string(bucket)]
	if m == nil {
		m = map[string]any{}
		s.pending[string(bucket)] = m
	}
	m[key] = v
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Flush returns when everything queued before the call is committed.
func (s *Store) Flush() error {
	ch := make(chan error, 1)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.waiters = append(s.waiters, ch)
	s.mu.Unlock()
	s.hurry()
	return <-ch
}

// hurry has the writer commit now.
func (s *Store) hurry() {
	for _, ch := range []chan struct{}{s.kick, s.flushNow} {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (s *Store) writer() {
	defer close(s.done)
	for range s.kick {
		// Gather what comes in the next moments into the same commit,
		// unless someone waits for it: a restart writes its instance and
		// its events, and a thousand restarts a second should not be two
		// thousand commits.
		s.mu.Lock()
		waiting := len(s.waiters) > 0 || s.closed
		s.mu.Unlock()
		if !waiting {
			select {
			case <-time.After(gatherFor):
			case <-s.flushNow:
			}
		}
		s.mu.Lock()
		batch, waiters := s.pending, s.waiters
		s.pending, s.waiters = map[string]map[string]any{}, nil
		closed := s.closed
		s.mu.Unlock()
		var err error
		if len(batch) > 0 {
			err = s.db.Update(func(tx *bolt.Tx) error {
				for bucket, kv := range batch {
					b := tx.Bucket([]byte(bucket))
					for k, v := range kv {
						if _, ok := v.(deleted); ok {
							if err := b.Delete([]byte(k)); err != nil {
								return err
							}
							continue
						}
						data, err := json.Marshal(v)
						if err != nil {
							// Our own record types always marshal: a
							// programming error.
							panic(fmt.Sprintf("store: marshal %s/%s: %v", bucket, k, err))
						}
						if err := b.Put([]byte(k), data); err != nil {
							return err
						}
					}
				}
				return nil
			})
			if err != nil {
				// Keep the batch: put it back under anything newer and
				// try again shortly.
				s.log.Error("store: commit failed; retrying", "err", err)
				s.mu.Lock()
				for bucket, kv := range batch {
					m := s.pending[bucket]
					if m == nil {
						m = map[string]any{}
						s.pending[bucket] = m
					}
					for k, v := range kv {
						if _, newer := m[k]; !newer {
							m[k] = v
						}
					}
				}
				s.mu.Unlock()
				if !closed {
					time.AfterFunc(time.Second, func() {
						select {
						case s.kick <- struct{}{}:
						default:
						}
					})
				}
			}
		}
		for _, w := range waiters {
			w <- err
		}
		if closed {
			return
		}
	}
}

// each calls fn with every key and value of bucket, in key order.
func (s *Store) each(bucket []byte, fn func(k, v []byte) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(fn)
	})
}

// eachDecoded is each with the decoding of the values done on every CPU:
// decode runs on worker goroutines (it must touch nothing shared), then
// apply runs on the caller's goroutine for each key in order, with what
// decode returned. A start of the agent decodes thousands of records
// (instances, events, the units' last valid versions); on two cores this
// takes a little more than half the time.
func eachDecoded[T any](s *Store, bucket []byte, decode func(k, v []byte) (T, error), apply func(k []byte, x T, err error) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		var keys, vals [][]byte // valid while the transaction is open
		tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			keys, vals = append(keys, k), append(vals, v)
			return nil
		})
		out := make([]T, len(keys))
		errs := make([]error, len(keys))
		onWorkers(len(keys), func(i int) { out[i], errs[i] = decode(keys[i], vals[i]) })
		for i := range keys {
			if err := apply(keys[i], out[i], errs[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// onWorkers calls f(0) … f(n−1) on up to one goroutine per core, the
// caller's among them, and returns when all have returned. The calls are
// taken 16 at a time from a shared counter, not dealt out beforehand: a
// worker whose core is busy with something else (a start loads its events
// beside) leaves its share to the others instead of holding them all up.
func onWorkers(n int, f func(k int)) {
	const chunk = 16
	var next atomic.Int64
	work := func() {
		for {
			end := int(next.Add(chunk))
			if end-chunk >= n {
				return
			}
			for k := end - chunk; k < min(end, n); k++ {
				f(k)
			}
		}
	}
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), max(n/64, 1)) - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
}

// HasInstances reports whether the store holds any instance: whether an
// agent that starts on it has runs to take over (or to stop).
func (s *Store) HasInstances() bool {
	has := false
	s.db.View(func(tx *bolt.Tx) error {
		k, _ := tx.Bucket(bucketInstances).Cursor().First()
		has = k != nil
		return nil
	})
	return has
}

// get returns the JSON value at bucket/key decoded into v; false when absent.
func (s *Store) get(bucket []byte, key string, v any) (bool, error) {
	var data []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		if d := tx.Bucket(bucket).Get([]byte(key)); d != nil {
			data = append([]byte(nil), d...)
		}
		return nil
	})
	if err != nil || data == nil {
		return false, err
	}
	return true, json.Unmarshal(data, v)
}

// Close commits what is queued, ends the writer and closes the file.
// It is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.hurry()
	<-s.done
	return s.db.Close()
}

// openBolt opens the bbolt file at path. The freelist is not written at
// each commit but rebuilt when the file is opened, and kept as a map:
// commits then cost what they change, not the size of the file (etcd
// runs bbolt so too).
func openBolt(path string) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:        500 * time.Millisecond,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	if err != nil {
		if err == bolt.ErrTimeout {
			return nil, fmt.Errorf("open %s: another agent holds it (one agent per state directory)", path)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}

// Compaction. bbolt never gives space back to the file system: pages
// freed by deletes are reused, but the file stays as large as it ever
// was (a scale to 2^63 once left 924 MB of a few live kilobytes, read
// in full at every start). When the store is opened and more than
// compactMinWaste bytes and more than half of its file are free, its
// live data are copied into a new file that replaces it.
const (
	// compactMinWaste is the least free space worth a compaction: more
	// than bbolt's own slack (it grows the file 16 MiB at a time), so
	// that a compacted file is never compacted again at the next start.
	compactMinWaste = 32 << 20
	// compactTxSize is how much one transaction of the copy writes.
	compactTxSize = 64 << 20
)

// storeUsage returns the size of db's file and the bytes of its live
// pages (the pages up to the high-water mark, less the free ones).
func storeUsage(db *bolt.DB, path string) (file, live int64, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, 0, err
	}
	err = db.View(func(tx *bolt.Tx) error {
		// FreeAlloc is not known until the first write: the free pages
		// are, counted when the file was opened.
		st := db.Stats()
		live = tx.Size() - int64(st.FreePageN+st.PendingPageN)*int64(db.Info().PageSize)
		return nil
	})
	return fi.Size(), live, err
}

// compactIfWasteful compacts the store at path, opened as db, when it is
// mostly free space, and returns the store to go on with: db itself, or
// the compacted file opened. The copy is written to path.compact,
// synced, and renamed over path while db still holds the file's lock, so
// that a crash at any point leaves the old file or the new one whole (a
// leftover copy is removed here, the next time). A compaction that fails
// is logged and the store goes on uncompacted.
func compactIfWasteful(db *bolt.DB, path string, log *slog.Logger) (*bolt.DB, error) {
	tmp := path + ".compact"
	os.Remove(tmp) // a copy a crash left behind, never renamed: the old file is whole
	file, live, err := storeUsage(db, path)
	if err != nil || file-live < compactMinWaste || file-live < file/2 {
		return db, nil
	}
	start := time.Now()
	if err := compactInto(db, tmp); err != nil {
		os.Remove(tmp)
		log.Warn("store not compacted", "path", path, "bytes", file, "live_bytes", live, "err", err)
		return db, nil
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		log.Warn("store not compacted", "path", path, "bytes", file, "live_bytes", live, "err", err)
		return db, nil
	}
	syncDir(filepath.Dir(path))
	db.Close() // the old file, now unlinked
	ndb, err := openBolt(path)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(path); err == nil {
		log.Info("store compacted", "path", path, "bytes_before", file, "bytes", fi.Size(), "took", time.Since(start).Round(time.Millisecond))
	}
	return ndb, nil
}

// compactInto copies src's live data into a new bbolt file at path,
// synced to disk before it returns.
func compactInto(src *bolt.DB, path string) error {
	dst, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 500 * time.Millisecond, NoSync: true})
	if err != nil {
		return err
	}
	err = bolt.Compact(dst, src, compactTxSize)
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	f.Close()
	return err
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
