package natsstore

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// markerTTL is how long the bucket keeps the marker of a removed key: long
// enough for every store's change watch to see it.
const markerTTL = 10 * time.Minute

// Prune applies the retention to the finished streams of every namespace
// now and returns how many streams it removed. Each replica's store prunes
// in the background too (WithPruneInterval); a stream that changed since it
// was listed is left for the next time, so replicas pruning at once remove
// each stream once and nothing they should not.
func (s *Store) Prune(ctx context.Context) (int, error) {
	r := s.cfg.retention
	if r.MaxFinished == 0 && r.MaxAge == 0 {
		return 0, nil
	}
	octx, cancel := context.WithTimeout(ctx, 4*s.cfg.timeout)
	defer cancel()
	all, err := s.list(octx, "s.>")
	if err != nil {
		return 0, s.fail(ctx, err)
	}
	byNS := map[string][]entry{}
	for _, e := range all {
		if e.m.Finished {
			byNS[e.ns] = append(byNS[e.ns], e)
		}
	}
	now := s.cfg.now()
	removed := 0
	for ns, finished := range byNS {
		// Newest first; whatever is past MaxFinished or too old goes.
		slices.SortFunc(finished, func(a, b entry) int { return b.m.Updated.Compare(a.m.Updated) })
		for i, e := range finished {
			tooMany := r.MaxFinished > 0 && i >= r.MaxFinished
			tooOld := r.MaxAge > 0 && now.Sub(e.m.Updated) > r.MaxAge
			if !tooMany && !tooOld {
				continue
			}
			ok, err := s.remove(octx, ns, e)
			if err != nil {
				return removed, s.fail(ctx, err)
			}
			if ok {
				removed++
			}
		}
	}
	return removed, nil
}

// remove removes a stream if its metadata is still at e's revision: a
// marker replaces it (readers are woken and find it gone), then its events
// go.
func (s *Store) remove(ctx context.Context, ns string, e entry) (bool, error) {
	msg := nats.NewMsg(s.kvPre + metaKey(ns, e.name))
	msg.Header.Set(hdrKVOp, "PURGE")
	msg.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
	_, err := s.publish(ctx, msg, jetstream.WithExpectLastSequencePerSubject(e.rev), jetstream.WithMsgTTL(markerTTL),
		jetstream.WithMsgID(nuid.Next()))
	if errors.Is(err, errConflict) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	es, err := s.namespace(ctx, ns)
	if err != nil {
		return true, err
	}
	// Left behind if this fails: events of a removed stream, which a new
	// stream of the name tells from its own.
	subj := s.subject(ns, e.name)
	if err := es.Purge(ctx, jetstream.WithPurgeSubject(subj)); err != nil {
		s.cfg.logger.Warn("natsstore: purge the events of a removed stream", "ns", ns, "stream", e.name, "err", err)
	}
	s.mu.Lock()
	delete(s.tails, subj)
	s.mu.Unlock()
	return true, nil
}

func (s *Store) pruneLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.pruneInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := s.Prune(ctx); err != nil && ctx.Err() == nil {
				s.cfg.logger.Error("natsstore: prune", "err", err)
			} else if n > 0 {
				s.cfg.logger.Info("natsstore: pruned finished streams", "count", n)
			}
		}
	}
}
