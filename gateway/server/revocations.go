package server

import (
	"fmt"

	"github.com/jonboulle/clockwork"
	"google.golang.org/grpc"

	"github.com/ssegate/ssegate/gateway/config"
	"github.com/ssegate/ssegate/gateway/revocation"
)

// revocations are the sessions revoked before they expired, as the
// upstream named by session-revocations publishes them; nil without that
// setting.
type revocations struct {
	set     *revocation.Set
	watcher *revocation.Watcher
}

// newRevocations makes the set; watch starts following it once the
// upstreams are loaded.
func (s *Server) newRevocations() *revocations {
	if s.cfg.Auth == config.AuthNone || s.cfg.SessionRevocations == "" {
		return nil
	}
	return &revocations{set: revocation.NewSet(clockwork.NewRealClock())}
}

// watch starts the watcher of the upstream named by session-revocations,
// whichever connection the upstreams loaded last have to it.
func (s *Server) watchRevocations() error {
	if s.revoked == nil {
		return nil
	}
	name := s.cfg.SessionRevocations
	conn := func() (grpc.ClientConnInterface, error) {
		for _, u := range s.current.Load().list {
			if u.cfg.Name == name {
				return u.conn, nil
			}
		}
		return nil, fmt.Errorf("no upstream named %q", name)
	}
	w, err := revocation.Watch(s.revoked.set, conn, revocation.WithLogger(s.logger.With("upstream", name)))
	if err != nil {
		return err
	}
	s.revoked.watcher = w
	return nil
}

// Close stops the watcher.
func (r *revocations) Close() error {
	if r == nil || r.watcher == nil {
		return nil
	}
	return r.watcher.Close()
}
