package relay

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/ferryhq/ferry/p2p"
	"github.com/ferryhq/ferry/relay/rendezvous"
	"github.com/ferryhq/ferry/relay/vault"
	"github.com/ferryhq/ferry/relay/vaultstore"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	circuit "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config configures New. Only DataDir is required; every other zero field
// takes the default named in its comment.
type Config struct {
	// DataDir holds the relay's identity (DataDir/identity.key, Ed25519,
	// created on first use), so its peer ID and thus its address survive
	// restarts.
	DataDir string

	// Listen are the multiaddrs to listen on. Default: TCP and QUIC on
	// every IPv4 interface, on ports chosen by the system.
	Listen []string

	// Announce are the multiaddrs (without /p2p) at which clients reach
	// this relay process, told to receivers that look up a sender
	// registered here, possibly through another relay process sharing
	// Redis. Default: the addresses the host listens on. Behind NAT or a
	// load balancer, set each process's own public address.
	Announce []string

	// Redis is a Redis URL (redis://host:port/db) holding rendezvous state
	// shared by several relay processes. Empty keeps it in memory.
	Redis string

	// Metrics is a TCP address (host:port) serving /healthz and Prometheus
	// /metrics. Empty serves neither.
	Metrics string

	// MaxReservations is the number of peers that may hold a relay slot at
	// once. Default DefaultMaxReservations.
	MaxReservations int
	// MaxReservationsPerIP is the number of those peers that may share one
	// IP address. Default 64.
	MaxReservationsPerIP int
	// MaxConnsPerIP is the number of connections one IPv4 address (IPv6
	// /56) may hold open. Loopback is not limited. Default 256.
	MaxConnsPerIP int
	// ReservationTTL is how long a reservation lasts before the client must
	// refresh it. Default 1 hour.
	ReservationTTL time.Duration
	// MaxCircuits is the number of relayed connections one peer may take
	// part in at once. Default 16.
	MaxCircuits int
	// CircuitData is the number of bytes relayed in each direction of one
	// relayed connection before the relay resets it. Default 256 GiB.
	CircuitData int64
	// CircuitDuration is how long one relayed connection may last.
	// Default 24 hours.
	CircuitDuration time.Duration
	// BufferSize is the copy buffer of each direction of a relayed
	// connection. Default 64 KiB.
	BufferSize int

	// StreamWindow is the largest yamux receive window of a stream on the
	// relay, so each direction of a relayed session buffers at most this
	// much there: a session costs at most about 2×StreamWindow +
	// 2×BufferSize, and about half that when data flows one way. It also
	// caps one session's throughput at about StreamWindow per round trip
	// between relay and client (2 MiB at 100 ms: 20 MiB/s). A power of two
	// from 256 KiB to 64 MiB (go-yamux v5.1.0 was seen to stall relayed
	// streams with windows of 1.25 and 1.5 MiB). Default 2 MiB. The
	// resource manager grants each peer MaxCircuits×StreamWindow + 1 MiB.
	StreamWindow int
	// MaxMemory bounds the memory of the whole resource manager.
	// Default 1 GiB.
	MaxMemory int64

	// RendezvousTTL is how long a registered nameplate waits for its
	// receiver, and how long a claimed one stays taken. Default 10 minutes.
	RendezvousTTL time.Duration
	// MaxNameplates bounds the in-memory rendezvous table. Default 65536.
	MaxNameplates int
	// MaxNameplatesPerPeer is the number of nameplates one peer may hold
	// registered at once (one IP address: MaxReservationsPerIP). Default 4.
	MaxNameplatesPerPeer int
	// MaxClaims is the number of receivers that may claim one nameplate,
	// at most MaxClaims-1 of them from one IP address (at least 1); the
	// sender's pairing decides which had the code. Default 3, the
	// sender's pairing attempts.
	MaxClaims int
	// MaxClaimsPerPeer is the number of live claims one peer may hold
	// (one IP address: MaxReservationsPerIP). Default 4.
	MaxClaimsPerPeer int
	// PeerRate and PeerBurst limit rendezvous requests per peer ID
	// (requests per second, bucket size). Default 1/s, burst 10.
	PeerRate  float64
	PeerBurst int
	// IPRate and IPBurst limit rendezvous requests per source IP.
	// Default 10/s, burst 100.
	IPRate  float64
	IPBurst int

	// Vault, when set, keeps devices' end-to-end encrypted backups
	// (/ferry/vault/1, see package vault) for the devices that hold a
	// reservation. Nil (the default) serves no vault.
	Vault vaultstore.Store
	// VaultMaxTotal is the number of bytes the vault keeps for all devices
	// together. Default 100 GiB.
	VaultMaxTotal int64
	// VaultQuota is the number of bytes one device may keep in the vault.
	// Default 10 GiB.
	VaultQuota int64
	// VaultMaxBackupSize is the largest backup accepted. Default 8 GiB.
	VaultMaxBackupSize int64
	// VaultTTL is how long a backup that is not refreshed is kept.
	// Default 180 days.
	VaultTTL time.Duration
	// VaultMaxBackups is the number of backups one device may keep.
	// Default 16.
	VaultMaxBackups int
	// VaultDeviceRequests bounds the vault requests of one device served
	// at once; others of that device wait. Default 8.
	VaultDeviceRequests int
	// VaultDeviceRate and VaultDeviceBurst limit the vault requests of one
	// device (per second, bucket size); requests over it wait. Default
	// 1000/s, burst 2000; a negative rate means no limit.
	VaultDeviceRate  float64
	VaultDeviceBurst int

	// Logger receives the relay's log lines. Nil discards them.
	Logger *slog.Logger
	// Now is the clock of rendezvous expiry and rate limits. Nil means
	// time.Now.
	Now func() time.Time
}

// DefaultMaxReservations is Config.MaxReservations when it is zero.
const DefaultMaxReservations = 1024

func (c *Config) setDefaults() {
	if len(c.Listen) == 0 {
		c.Listen = []string{"/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"}
	}
	c.MaxReservations = cmp.Or(c.MaxReservations, DefaultMaxReservations)
	c.MaxReservationsPerIP = cmp.Or(c.MaxReservationsPerIP, 64)
	c.MaxConnsPerIP = cmp.Or(c.MaxConnsPerIP, 256)
	c.ReservationTTL = cmp.Or(c.ReservationTTL, time.Hour)
	c.MaxCircuits = cmp.Or(c.MaxCircuits, 16)
	c.CircuitData = cmp.Or(c.CircuitData, 256<<30)
	c.CircuitDuration = cmp.Or(c.CircuitDuration, 24*time.Hour)
	c.BufferSize = cmp.Or(c.BufferSize, 64<<10)
	c.StreamWindow = cmp.Or(c.StreamWindow, 2<<20)
	c.MaxMemory = cmp.Or(c.MaxMemory, 1<<30)
	c.RendezvousTTL = cmp.Or(c.RendezvousTTL, 10*time.Minute)
	c.MaxNameplates = cmp.Or(c.MaxNameplates, 1<<16)
	c.MaxNameplatesPerPeer = cmp.Or(c.MaxNameplatesPerPeer, 4)
	c.MaxClaims = cmp.Or(c.MaxClaims, 3)
	c.MaxClaimsPerPeer = cmp.Or(c.MaxClaimsPerPeer, 4)
	c.PeerRate = cmp.Or(c.PeerRate, 1)
	c.PeerBurst = cmp.Or(c.PeerBurst, 10)
	c.IPRate = cmp.Or(c.IPRate, 10)
	c.IPBurst = cmp.Or(c.IPBurst, 100)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Server is a running relay: a libp2p host with the circuit relay v2
// service and the rendezvous protocol, and optionally an HTTP server for
// health and metrics.
type Server struct {
	// Constant after New.
	cfg     Config
	log     *slog.Logger
	host    host.Host
	relay   *circuit.Relay
	rsv     *reservations
	store   store
	limits  rateLimits
	metrics *metrics
	http    *http.Server
	httpLn  net.Listener
	// relayAddrs are Addrs() formatted for the rendezvous store.
	relayAddrs string

	closeOnce sync.Once
	closeErr  error
	wg        sync.WaitGroup // the HTTP server
}

// New starts a relay. The caller closes it.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	sk, err := p2p.LoadIdentity(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	s := &Server{
		cfg:     cfg,
		log:     cfg.Logger,
		metrics: newMetrics(),
	}
	s.rsv = &reservations{
		max: cfg.MaxReservations, maxPerIP: cfg.MaxReservationsPerIP,
		ttl: cfg.ReservationTTL, now: time.Now, refused: s.metrics.refused,
		peers: make(map[peer.ID]held),
	}
	if err := s.openStore(ctx); err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	fail := func(err error) (*Server, error) {
		s.Close()
		return nil, fmt.Errorf("relay: %w", err)
	}

	var announce []ma.Multiaddr
	for _, a := range cfg.Announce {
		m, err := ma.NewMultiaddr(a)
		if err != nil {
			return fail(fmt.Errorf("announce address %q: %w", a, err))
		}
		announce = append(announce, m)
	}
	addrsFactory := func(addrs []ma.Multiaddr) []ma.Multiaddr {
		if len(announce) > 0 {
			return announce
		}
		return addrs
	}
	ymx := *yamux.DefaultTransport
	ymx.MaxStreamWindowSize = uint32(cfg.StreamWindow)
	rm, err := newResourceManager(&cfg)
	if err != nil {
		return fail(err)
	}
	cm, err := connmgr.NewConnManager(cfg.MaxReservations, 2*cfg.MaxReservations+64, connmgr.WithGracePeriod(time.Minute))
	if err != nil {
		rm.Close()
		return fail(fmt.Errorf("connection manager: %w", err))
	}
	s.host, err = libp2p.New(
		libp2p.Identity(sk),
		libp2p.AddrsFactory(addrsFactory),
		libp2p.ListenAddrStrings(cfg.Listen...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.Security(libp2ptls.ID, libp2ptls.New),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, &ymx),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(cm),
		libp2p.DisableRelay(), // the relay is a service here, not a transport
		libp2p.UserAgent("ferry-relay"),
		libp2p.DisableMetrics(),
	)
	if err != nil {
		rm.Close()
		return fail(fmt.Errorf("libp2p: %w", err))
	}
	s.host.Network().Notify(&network.NotifyBundle{DisconnectedF: s.rsv.disconnected})

	res := circuit.DefaultResources()
	res.Limit = &circuit.RelayLimit{Duration: cfg.CircuitDuration, Data: cfg.CircuitData}
	res.ReservationTTL = cfg.ReservationTTL
	res.MaxCircuits = cfg.MaxCircuits
	res.BufferSize = cfg.BufferSize
	// Looser than the ACL's limits, which decide (see reservations).
	res.MaxReservations = 2 * cfg.MaxReservations
	res.MaxReservationsPerIP = 2 * cfg.MaxReservationsPerIP
	res.MaxReservationsPerASN = 2 * cfg.MaxReservations
	s.relay, err = circuit.New(s.host,
		circuit.WithResources(res),
		circuit.WithACL(&acl{rsv: s.rsv, store: s.store, now: cfg.Now, log: s.log, refused: s.metrics.refused}),
		circuit.WithMetricsTracer(s.metrics),
	)
	if err != nil {
		return fail(fmt.Errorf("circuit relay: %w", err))
	}
	s.relayAddrs = formatRelayAddrs(s.Addrs())
	s.host.SetStreamHandler(rendezvous.ProtocolID, s.handleRendezvous)
	if cfg.Vault != nil {
		if _, err := vault.Register(s.host, vault.Config{
			Store: cfg.Vault, Quota: cfg.VaultQuota, MaxBackupSize: cfg.VaultMaxBackupSize,
			MaxBackups: cfg.VaultMaxBackups, TTL: cfg.VaultTTL,
			AccountStreams: cfg.VaultDeviceRequests, AccountRate: cfg.VaultDeviceRate,
			AccountBurst: cfg.VaultDeviceBurst, MaxTotal: cfg.VaultMaxTotal,
			// A device uses the vault while it holds a reservation: peer
			// IDs are free, reservations are bounded per IP and in all.
			Allow:  s.rsv.has,
			Logger: cfg.Logger, Now: cfg.Now,
		}); err != nil {
			return fail(err)
		}
	}

	if cfg.Metrics != "" {
		if err := s.serveHTTP(); err != nil {
			return fail(err)
		}
	}
	s.log.Info("relay started", "peer", s.host.ID().String(), "addrs", s.Addrs(),
		"redis", cfg.Redis != "", "metrics", s.MetricsAddr())
	return s, nil
}

func (c *Config) validate() error {
	if c.DataDir == "" {
		return errors.New("no data directory given")
	}
	if c.CircuitData < 1<<20 || c.CircuitDuration < time.Minute {
		return fmt.Errorf("circuit limits %d bytes / %s are too small for a transfer", c.CircuitData, c.CircuitDuration)
	}
	if c.StreamWindow < 256<<10 || c.StreamWindow > 64<<20 || c.StreamWindow&(c.StreamWindow-1) != 0 {
		return fmt.Errorf("stream window %d: want a power of two from 256 KiB to 64 MiB", c.StreamWindow)
	}
	if c.RendezvousTTL < time.Second {
		return fmt.Errorf("rendezvous TTL %s is below a second", c.RendezvousTTL)
	}
	if c.MaxNameplatesPerPeer < 1 || c.MaxClaims < 1 || c.MaxClaimsPerPeer < 1 || c.PeerRate <= 0 || c.IPRate <= 0 {
		return errors.New("rendezvous limits must be positive")
	}
	return nil
}

// openStore opens the rendezvous store and rate limits: in Redis with
// Config.Redis, else in memory.
func (s *Server) openStore(ctx context.Context) error {
	c := &s.cfg
	lim := storeLimits{
		ttl:    c.RendezvousTTL,
		claims: c.MaxClaims, claimsPerIP: max(c.MaxClaims-1, 1),
		peerNameplates: c.MaxNameplatesPerPeer, ipNameplates: c.MaxReservationsPerIP,
		peerClaims: c.MaxClaimsPerPeer, ipClaims: c.MaxReservationsPerIP,
	}
	byIP, byPeer := rateSpec{c.IPRate, c.IPBurst}, rateSpec{c.PeerRate, c.PeerBurst}
	if c.Redis == "" {
		s.store, s.limits = newMemStore(lim, c.MaxNameplates), newMemLimits(byIP, byPeer)
		return nil
	}
	rs, err := newRedisStore(ctx, c.Redis, lim)
	if err != nil {
		return err
	}
	s.store, s.limits = rs, redisLimits{s: rs, byIP: byIP, byPeer: byPeer}
	return nil
}

func (s *Server) serveHTTP() error {
	ln, err := net.Listen("tcp", s.cfg.Metrics)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", s.healthz)
	s.httpLn = ln
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("metrics server stopped", "err", err)
		}
	}()
	return nil
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		http.Error(w, "rendezvous store unavailable: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintf(w, "ok %s\n", s.host.ID())
}

// ID is the relay's peer ID.
func (s *Server) ID() peer.ID { return s.host.ID() }

// Addrs are the relay's addresses, each ending in /p2p/<ID>: what clients
// pass as --relay.
func (s *Server) Addrs() []ma.Multiaddr {
	self, err := ma.NewComponent("p2p", s.host.ID().String())
	if err != nil {
		return nil
	}
	var out []ma.Multiaddr
	for _, a := range s.host.Addrs() {
		out = append(out, a.Encapsulate(self.Multiaddr()))
	}
	return out
}

// MetricsAddr is the address the health and metrics server listens on, or
// "" if there is none.
func (s *Server) MetricsAddr() string {
	if s.httpLn == nil {
		return ""
	}
	return s.httpLn.Addr().String()
}

// Close stops the relay. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.http != nil {
			errs = append(errs, s.http.Close())
		}
		if s.relay != nil {
			errs = append(errs, s.relay.Close())
		}
		if s.host != nil {
			errs = append(errs, s.host.Close())
		}
		errs = append(errs, s.store.Close())
		s.wg.Wait()
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("relay: close: %w", err)
		}
	})
	return s.closeErr
}
