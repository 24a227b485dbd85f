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
	// byKey holds the events by the hash of their key (eventKey): a map
	// keyed by the key itself spends its six string headers, 96 bytes, on
	// every slot of its tables, which the load factor and the doubling
	// make three to five slots an event (460 KB for 1000 events); a hash
	// is 8 bytes a slot. Events whose keys hash alike chain through next.
	byKey map[uint64]*storedEvent
	hash  func(eventKey) uint64 // keyHash; tests make keys collide
	n     int                   // events held: len(byKey) counts chains
}

// eventKey is what makes two events the same one, to fold.
type eventKey struct {
	kind, object, typ, reason, message, from string
}

type storedEvent struct {
	ID uint64 `json:"id"`
	Event
	next *storedEvent // the next event whose key hashes alike
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
	return &Recorder{store: store, max: max, byKey: map[uint64]*storedEvent{}, hash: keyHash, loaded: make(chan struct{})}
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
				if old := r.findLocked(keyOf(&e.Event)); old != nil {
					r.removeLocked(old) // stored twice: the later one is kept, as before
				}
				r.addLocked(e)
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

// keyHash is the FNV-1a hash of an event key's fields, each ended by a
// zero byte ("ab"+"c" is not "a"+"bc"). Written out rather than taken
// from hash/maphash, whose code the armv7 binary has no room for: there
// is no seed, so keys that hash alike could be made on purpose, and at
// worst they chain all of the recorder's events (at most max, 2000 by
// default) through one slot, to be compared one by one.
func keyHash(k eventKey) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for _, f := range [...]string{k.kind, k.object, k.typ, k.reason, k.message, k.from} {
		for i := 0; i < len(f); i++ {
			h = (h ^ uint64(f[i])) * prime
		}
		h *= prime // the zero byte that ends the field
	}
	return h
}

// findLocked returns the event whose key is k, or nil. r.mu is held.
func (r *Recorder) findLocked(k eventKey) *storedEvent {
	for e := r.byKey[r.hash(k)]; e != nil; e = e.next {
		if keyOf(&e.Event) == k {
			return e
		}
	}
	return nil
}

// addLocked holds e, whose key no held event has. r.mu is held.
func (r *Recorder) addLocked(e *storedEvent) {
	h := r.hash(keyOf(&e.Event))
	e.next = r.byKey[h]
	r.byKey[h] = e
	r.n++
}

// removeLocked drops e, a held event; one that is not held is left
// alone (the count with it). r.mu is held.
func (r *Recorder) removeLocked(e *storedEvent) {
	h := r.hash(keyOf(&e.Event))
	switch head := r.byKey[h]; {
	case head == e && e.next == nil:
		delete(r.byKey, h)
	case head == e:
		r.byKey[h] = e.next
	default:
		p := head
		for p != nil && p.next != e {
			p = p.next
		}
		if p == nil {
			return
		}
		p.next = e.next
	}
	e.next = nil
	r.n--
}

// eachLocked calls f with every held event; f may remove the one it is
// given. r.mu is held.
func (r *Recorder) eachLocked(f func(*storedEvent)) {
	for _, head := range r.byKey {
		for e := head; e != nil; {
			next := e.next
			f(e)
			e = next
		}
	}
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
	se := r.findLocked(keyOf(&e))
	if se != nil {
		se.Count++
		se.Last = now
	} else {
		e.First, e.Last, e.Count = now, now, 1
		se = &storedEvent{ID: r.nextID, Event: e}
		r.nextID++
		r.addLocked(se)
	}
	r.store.put(bucketEvents, eventDBKey(se.ID), storedEvent{ID: se.ID, Event: se.Event})
	r.trimLocked()
	r.mu.Unlock()
}

func (r *Recorder) trimLocked() {
	over := r.n - r.max
	if over <= 0 {
		return
	}
	all := make([]*storedEvent, 0, r.n)
	r.eachLocked(func(e *storedEvent) { all = append(all, e) })
	sort.Slice(all, func(i, j int) bool { return all[i].Last.Before(all[j].Last) })
	// Drop a tenth more than needed so trimming is not paid on every event.
	drop := over + r.max/10
	if drop > len(all) {
		drop = len(all)
	}
	for _, e := range all[:drop] {
		r.removeLocked(e)
		r.store.del(bucketEvents, eventDBKey(e.ID))
	}
}

// Forget drops every event of kind/object (the object is gone).
func (r *Recorder) Forget(kind, object string) {
	r.lock()
	defer r.mu.Unlock()
	r.eachLocked(func(e *storedEvent) {
		if e.Kind == kind && e.Object == object {
			r.removeLocked(e)
			r.store.del(bucketEvents, eventDBKey(e.ID))
		}
	})
}

// List returns copies of the events of kind/object ("" matches all),
// ordered by first occurrence.
func (r *Recorder) List(kind, object string) []Event {
	r.lock()
	var sel []storedEvent
	r.eachLocked(func(e *storedEvent) {
		if (kind == "" || e.Kind == kind) && (object == "" || e.Object == object) {
			sel = append(sel, storedEvent{ID: e.ID, Event: e.Event})
		}
	})
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
