package relay

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/ferryhq/ferry/relay/rendezvous"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// rendezvousTimeout bounds one rendezvous exchange.
const rendezvousTimeout = 10 * time.Second

// handleRendezvous serves one request on st (see doc.go).
func (s *Server) handleRendezvous(st network.Stream) {
	if err := st.Scope().SetService(rendezvousService); err != nil {
		s.metrics.refused("rendezvous_resources")
		st.Reset()
		return
	}
	const mem = rendezvous.MaxRequestLen + 1 + rendezvous.MaxResponseLen
	if err := st.Scope().ReserveMemory(mem, network.ReservationPriorityAlways); err != nil {
		s.metrics.refused("rendezvous_resources")
		st.Reset()
		return
	}
	defer st.Scope().ReleaseMemory(mem)
	st.SetDeadline(time.Now().Add(rendezvousTimeout))

	ctx, cancel := context.WithTimeout(context.Background(), rendezvousTimeout)
	defer cancel()
	op, resp := s.serveRendezvous(ctx, st)
	s.metrics.rendezvousOps.WithLabelValues(op, resp.Status.String()).Inc()
	if resp.Status == rendezvous.StatusRateLimited {
		s.metrics.refused("rendezvous_rate_limited")
	}
	b, err := resp.MarshalBinary()
	if err != nil { // a bug: every response built here is valid
		s.log.Error("rendezvous: marshal response", "err", err)
		st.Reset()
		return
	}
	if _, err := st.Write(b); err != nil {
		st.Reset()
		return
	}
	st.Close()
}

func (s *Server) serveRendezvous(ctx context.Context, st network.Stream) (op string, _ rendezvous.Response) {
	p := st.Conn().RemotePeer()
	ip := "unknown"
	if a, err := manet.ToIP(st.Conn().RemoteMultiaddr()); err == nil {
		ip = addrKey(a)
	}
	now := s.cfg.Now()
	from, wait, err := s.limits.allow(ctx, ip, p, now)
	if err != nil {
		s.log.Error("rendezvous rate limits failed", "peer", p.String(), "ip", ip, "err", err)
		return "unknown", reply(rendezvous.StatusUnavailable, "the relay cannot reach its rendezvous store; try again shortly")
	}
	if from != "" {
		return "unknown", rateLimited(from, wait)
	}

	buf, err := io.ReadAll(io.LimitReader(st, rendezvous.MaxRequestLen+1))
	if err != nil {
		return "malformed", reply(rendezvous.StatusMalformed, "the request did not end: send one request, then close the stream for writing")
	}
	req, err := rendezvous.ParseRequest(buf)
	if err != nil {
		return "malformed", reply(rendezvous.StatusMalformed, err.Error())
	}
	op = req.Op.String()
	log := s.log.With("op", op, "nameplate", req.Nameplate, "peer", p.String(), "ip", ip)

	var st2 rendezvous.Status
	var sender peer.ID
	var relayAddrs string
	switch req.Op {
	case rendezvous.OpRegister, rendezvous.OpClaim:
		if !s.rsv.has(p) {
			s.metrics.refused("rendezvous_no_reservation")
			return op, reply(rendezvous.StatusNoReservation, "reserve a slot on this relay before registering or claiming a nameplate")
		}
	}
	switch req.Op {
	case rendezvous.OpRegister:
		st2, err = s.store.Register(ctx, registration{
			nameplate: req.Nameplate, peer: p, ip: ip, relay: s.relayAddrs, allow: req.Allow,
		}, now)
	case rendezvous.OpClaim:
		sender, relayAddrs, st2, err = s.store.Claim(ctx, claim{nameplate: req.Nameplate, peer: p, ip: ip}, now)
	case rendezvous.OpUnregister:
		st2, err = s.store.Unregister(ctx, req.Nameplate, p, now)
	}
	if err != nil {
		log.Error("rendezvous store failed", "err", err)
		return op, reply(rendezvous.StatusUnavailable, "the relay cannot reach its rendezvous store; try again shortly")
	}
	log.Debug("rendezvous", "status", st2.String())
	switch st2 {
	case rendezvous.StatusOK:
		resp := rendezvous.Response{Status: rendezvous.StatusOK, Peer: sender}
		if req.Op == rendezvous.OpClaim {
			resp.Relay = parseRelayAddrs(relayAddrs)
		}
		if req.Op == rendezvous.OpRegister {
			resp.Seconds = uint32(s.cfg.RendezvousTTL / time.Second)
			resp.Message = fmt.Sprintf("registered for %d seconds", resp.Seconds)
		}
		return op, resp
	case rendezvous.StatusUnknown:
		return op, reply(st2, "no sender registered this nameplate")
	case rendezvous.StatusExpired:
		return op, reply(st2, "the sender's registration of this nameplate expired")
	case rendezvous.StatusClaimed:
		s.metrics.refused("rendezvous_claims_full")
		return op, reply(st2, "as many receivers as this relay allows (or as many from your address) already claimed this nameplate")
	case rendezvous.StatusInUse:
		return op, reply(st2, "another sender holds this nameplate")
	case rendezvous.StatusLimit:
		s.metrics.refused("rendezvous_" + op + "_limit")
		if req.Op == rendezvous.OpClaim {
			return op, reply(st2, fmt.Sprintf("your device may hold %d claims on this relay at once, your address %d", s.cfg.MaxClaimsPerPeer, s.cfg.MaxReservationsPerIP))
		}
		return op, reply(st2, fmt.Sprintf("your device may hold %d nameplates on this relay at once, your address %d", s.cfg.MaxNameplatesPerPeer, s.cfg.MaxReservationsPerIP))
	case rendezvous.StatusUnavailable:
		return op, reply(st2, "the relay's rendezvous table is full; try again later")
	}
	log.Error("rendezvous store returned an unexpected status", "status", st2.String())
	return op, reply(rendezvous.StatusUnavailable, "internal error")
}

func reply(st rendezvous.Status, msg string) rendezvous.Response {
	if len(msg) > rendezvous.MaxMessageLen {
		msg = msg[:rendezvous.MaxMessageLen]
	}
	return rendezvous.Response{Status: st, Message: msg}
}

func rateLimited(from string, wait time.Duration) rendezvous.Response {
	secs := uint32(min(math.Ceil(wait.Seconds()), math.MaxUint32))
	secs = max(secs, 1)
	return rendezvous.Response{
		Status:  rendezvous.StatusRateLimited,
		Seconds: secs,
		Message: fmt.Sprintf("too many rendezvous requests %s; retry in %d s", from, secs),
	}
}

// formatRelayAddrs is how a relay stores its own addresses with a
// registration: at most MaxRelayAddrs multiaddrs, space-separated.
func formatRelayAddrs(addrs []ma.Multiaddr) string {
	var parts []string
	for _, a := range addrs {
		if len(parts) == rendezvous.MaxRelayAddrs {
			break
		}
		if n := len(a.Bytes()); n > 0 && n <= rendezvous.MaxAddrLen {
			parts = append(parts, a.String())
		}
	}
	return strings.Join(parts, " ")
}

// parseRelayAddrs reverses formatRelayAddrs, skipping what does not parse
// (the store is trusted, but written by other relay versions too).
func parseRelayAddrs(s string) []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, f := range strings.Fields(s) {
		a, err := ma.NewMultiaddr(f)
		if err != nil || len(a.Bytes()) > rendezvous.MaxAddrLen || len(out) == rendezvous.MaxRelayAddrs {
			continue
		}
		out = append(out, a)
	}
	return out
}
