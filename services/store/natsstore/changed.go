package natsstore

import (
	"context"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Headers the store puts on its messages.
const (
	// hdrWake marks a metadata write that readers care about: events
	// appended, or the stream finished.
	hdrWake = "Ssegate-Wake"
	// hdrID, hdrInc and hdrTime are an event's id, its stream's
	// incarnation (meta.Inc) and its append time in Unix nanoseconds.
	hdrID   = "Ssegate-Id"
	hdrInc  = "Ssegate-Inc"
	hdrTime = "Ssegate-Time"
	// The bucket's markers of removed keys, as NATS key-value buckets have
	// them.
	hdrKVOp = "KV-Operation"
)

// startWatch starts the ordered consumer that wakes readers: it reads, from
// the bucket's current end on, only the headers of metadata writes, and
// wakes the readers of a stream at each write that appended events,
// finished it or removed it. An ordered consumer delivers every message in
// order, starting again where it was after a reconnect or a lost server,
// so no change is missed; the wakes follow the order of the changes.
func (s *Store) startWatch(ctx context.Context) error {
	info, err := s.kv.Info(ctx)
	if err != nil {
		return s.openError(err)
	}
	cons, err := s.kv.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{s.kvPre + "s.>"},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    info.State.LastSeq + 1,
		HeadersOnly:    true,
	})
	if err != nil {
		return s.openError(err)
	}
	s.watch, err = cons.Consume(s.changed, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if s.isClosed() {
			return
		}
		// The consumer starts again by itself; readers read again in
		// case they waited through the gap.
		s.cfg.logger.Warn("natsstore: change watch", "err", err)
		s.wakeAll()
	}))
	if err != nil {
		return s.openError(err)
	}
	return nil
}

func (s *Store) changed(msg jetstream.Msg) {
	key := strings.TrimPrefix(msg.Subject(), s.kvPre)
	h := msg.Headers()
	if md, err := msg.Metadata(); err == nil {
		s.seen(key, md.Sequence.Stream, h.Get(hdrKVOp) != "")
	}
	if h.Get(hdrWake) == "" && h.Get(hdrKVOp) == "" {
		return // an attrs-only change
	}
	s.notify(key)
}

// Changed implements store.Streams.
func (s *Store) Changed(ns, name string) <-chan struct{} {
	return s.waiters.Wait(metaKey(ns, name))
}

func (s *Store) notify(key string) { s.waiters.Notify(key) }

func (s *Store) wakeAll() { s.waiters.NotifyAll() }

// metaKey is a stream's key in the bucket.
func metaKey(ns, name string) string { return "s." + token(ns) + "." + token(name) }

// checkInterval is how often a store looks for itself at the streams that
// readers wait on.
const checkInterval = 2 * time.Second

// checkLoop wakes the readers of a stream that changed without the change
// watch saying so, within checkInterval: a safety net, so that a watch
// that is slow to come back after a server is lost (it notices by missed
// heartbeats, then starts again) delays readers but never strands them.
func (s *Store) checkLoop(ctx context.Context) {
	t := time.NewTicker(checkInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, key := range s.waiters.Keys() {
			cctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
			msg, err := s.kv.GetLastMsgForSubject(cctx, s.kvPre+key)
			cancel()
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				continue // unreachable now: the next round
			}
			if known, _ := s.newestKnown(key); msg.Sequence > known {
				s.cfg.logger.Debug("natsstore: a change the watch has not delivered", "key", key, "rev", msg.Sequence)
				s.seen(key, msg.Sequence, msg.Header.Get(hdrKVOp) != "")
				s.notify(key)
			}
		}
	}
}
