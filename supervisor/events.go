package supervisor

import (
	"encoding/binary"
	"encoding/json"
	"sort"
	"sync"
	"time"
)

// Event types, as Kubernetes names them.
const (
	Normal  = "Normal"
	Warning = "Warning"
)

// Object kinds that events are about.
const (
	KindInstance = "instance"
	KindUnit     = "unit"
	KindHost     = "host"
)

// DefaultMaxEvents bounds the events kept, across all objects.
const DefaultMaxEvents = 2000

// Recorder keeps events, folding repeats: an event equal to an earlier one
// in object, type, reason, message and source increments that one's count
// and moves its Last time, so "Liveness probe failed" three times is one
// row "(x3 over 21s)", as the kubelet's event correlator does. The oldest
// events (by Last) are dropped beyond max.
//
// Safe for concurrent use; Record never blocks on I/O (the store writes
// behind it).
type Recorder struct {
	store *Store
	max   int

	start   sync.Once     // begins the load (StartLoad)
	loaded  chan struct{} // closed when the stored events are loaded
	loadErr error         // why they could not be, once loaded is closed

	mu     sync.Mutex
	nextID uint64
	byKey  map[eventKey]*storedEvent
}

type eventKey struct {
	kind, object, typ, reason, message, from string
}

type storedEvent struct {
	ID uint64 `json:"id"`
	Event
}

// NewRecorder loads the stored events, then returns.
func NewRecorder(store *Store, max int) (*Recorder, error) {
	r := LazyRecorder(store, max)
	return r, r.Loaded()
}

// LazyRecorder returns at once; it begins to load the stored events (with
// the default 2000, 5 to 9 ms of decoding) when StartLoad is called or
// when it is first used (Record, Forget, List, Loaded), whichever comes
// first. An agent taking over 1000 instances on a host of two cores
// answers sooner when the events are not decoded beside the unit files
// it must parse first: it starts the load once its first pass is made.
// Until the load ends, every method waits for it (the loader holds r.mu),
// so an event recorded meanwhile still folds into a stored one equal to
// it.
func LazyRecorder(store *Store, max int) *Recorder {
	return &Recorder{store: store, max: max, byKey: map[eventKey]*storedEvent{}, loaded: make(chan struct{})}
}

// StartLoad begins to load the stored events, if that has not begun, and
// returns at once.
func (r *Recorder) StartLoad() {
	r.start.Do(func() {
		// Locked before the loader runs: whatever comes next waits for
		// the load.
		r.mu.Lock()
		go func() {
			defer close(r.loaded)
			defer r.mu.Unlock()
			r.loadErr = eachDecoded(r.store, bucketEvents, func(k, v []byte) (e *storedEvent, err error) {
				e = new(storedEvent)
				return e, json.Unmarshal(v, e)
			}, func(k []byte, e *storedEvent, err error) error {
				if err != nil {
					return nil // a damaged event is not worth refusing to start over
				}
				r.byKey[keyOf(&e.Event)] = e
				if e.ID >= r.nextID {
					r.nextID = e.ID + 1
				}
				return nil
			})
		}()
	})
}

// lock takes r.mu once the stored events are loaded, starting the load if
// it has not begun.
func (r *Recorder) lock() {
	r.StartLoad()
	r.mu.Lock()
}

// Loaded waits for the stored events to be loaded and says why they
// could not all be: those read before the failure are kept, and events go
// on being recorded.
func (r *Recorder) Loaded() error {
	r.StartLoad()
	<-r.loaded
	return r.loadErr
}

func keyOf(e *Event) eventKey {
	return eventKey{e.Kind, e.Object, e.Type, e.Reason, e.Message, e.From}
}

func eventDBKey(id uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], id)
	return string(b[:])
}

// Record notes that something happened to kind/object at now.
func (r *Recorder) Record(now time.Time, kind, object, typ, reason, from, message string) {
	e := Event{Kind: kind, Object: object, Type: typ, Reason: reason, Message: message, From: from}
	r.lock()
	k := keyOf(&e)
	se := r.byKey[k]
	if se != nil {
		se.Count++
		se.Last = now
	} else {
		e.First, e.Last, e.Count = now, now, 1
		se = &storedEvent{ID: r.nextID, Event: e}
		r.nextID++
		r.byKey[k] = se
	}
	r.store.put(bucketEvents, eventDBKey(se.ID), *se)
	r.trimLocked()
	r.mu.Unlock()
}

func (r *Recorder) trimLocked() {
	over := len(r.byKey) - r.max
	if over <= 0 {
		return
	}
	all := make([]*storedEvent, 0, len(r.byKey))
	for _, e := range r.byKey {
		all = append(all, e)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Last.Before(all[j].Last) })
	// Drop a tenth more than needed so trimming is not paid on every event.
	drop := over + r.max/10
	if drop > len(all) {
		drop = len(all)
	}
	for _, e := range all[:drop] {
		delete(r.byKey, keyOf(&e.Event))
		r.store.del(bucketEvents, eventDBKey(e.ID))
	}
}

// Forget drops every event of kind/object (the object is gone).
func (r *Recorder) Forget(kind, object string) {
	r.lock()
	defer r.mu.Unlock()
	for k, e := range r.byKey {
		if k.kind == kind && k.object == object {
			delete(r.byKey, k)
			r.store.del(bucketEvents, eventDBKey(e.ID))
		}
	}
}

// List returns copies of the events of kind/object ("" matches all),
// ordered by first occurrence.
func (r *Recorder) List(kind, object string) []Event {
	r.lock()
	var sel []storedEvent
	for k, e := range r.byKey {
		if (kind == "" || k.kind == kind) && (object == "" || k.object == object) {
			sel = append(sel, *e)
		}
	}
	r.mu.Unlock()
	sort.Slice(sel, func(i, j int) bool {
		if !sel[i].First.Equal(sel[j].First) {
			return sel[i].First.Before(sel[j].First)
		}
		return sel[i].ID < sel[j].ID
	})
	out := make([]Event, len(sel))
	for i, e := range sel {
		out[i] = e.Event
	}
	return out
}
