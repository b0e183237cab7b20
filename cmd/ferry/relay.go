package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/multiformats/go-multiaddr"
	"github.com/spf13/cobra"

	"github.com/ferryhq/ferry/relay"
)

func (a *app) relayCmd() *cobra.Command {
	var (
		cfg             relay.Config
		maxReservations int
		ttl             time.Duration
		vcfg            vaultConfig
		withVault       bool
		listenFlags     []string
	)
	cmd := &cobra.Command{
		Use:   "relay --data DIR [--listen ADDR ...]",
		Short: "Run a relay: rendezvous by code and relayed migrations for devices on different networks",
		Long: `Run a Ferry relay. Devices on different networks meet here by code and, when
no direct path exists, their migration flows through it. The relay only ever
sees ciphertext: pairing and transfer are end-to-end encrypted between the two
devices. Once ready it prints "relay: ADDR" lines, such as
/ip4/203.0.113.7/tcp/4001/p2p/12D3KooW...; give one, whole, to ferry send and
ferry receive with --relay ADDR. It listens on TCP and QUIC port 4001 of
every interface unless --listen says otherwise: a multiaddr
(/ip4/0.0.0.0/tcp/4001) or HOST:PORT (127.0.0.1:4001, TCP and QUIC on it).
Behind NAT or a load balancer, --announce gives the address devices dial.

With --vault it also keeps devices' end-to-end encrypted backups (ferry
backup), in DATA/vault or --vault-dir, or in S3-compatible storage (--s3): for
devices that hold a slot on it, within --quota each and --vault-size in all.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if cfg.DataDir == "" {
				return usageError{fmt.Errorf("--data DIR is required: where the relay keeps its identity")}
			}
			if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
				return fmt.Errorf("relay data directory: %w", err)
			}
			listen, err := listenAddrs(listenFlags)
			if err != nil {
				return usageError{err}
			}
			cfg.Listen = listen
			cfg.MaxReservations = maxReservations
			cfg.RendezvousTTL = ttl
			cfg.Logger = a.log
			if !withVault {
				for _, f := range vaultFlags {
					if cmd.Flags().Changed(f) {
						return usageError{fmt.Errorf("--%s configures the vault: add --vault to keep backups on this relay", f)}
					}
				}
			} else {
				vs, err := vcfg.apply(ctx, cfg.DataDir, &cfg.VaultQuota, &cfg.VaultMaxBackupSize, &cfg.VaultMaxTotal, &cfg.VaultTTL)
				if err != nil {
					return err
				}
				cfg.Vault = vs
			}
			srv, err := relay.New(ctx, cfg)
			if err != nil {
				return err
			}
			defer srv.Close()
			for _, ad := range srv.Addrs() {
				if a.json {
					_ = json.NewEncoder(a.stdout).Encode(map[string]string{"relay": ad.String()})
				} else {
					fmt.Fprintf(a.stdout, "relay: %s\n", ad)
				}
			}
			if m := srv.MetricsAddr(); m != "" && !a.json {
				fmt.Fprintf(a.stdout, "metrics: http://%s/metrics\n", m)
			}
			<-ctx.Done()
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&listenFlags, "listen", nil, "address to listen on: a multiaddr such as /ip4/0.0.0.0/tcp/4001, or HOST:PORT for TCP and QUIC on it (repeatable; default: TCP and QUIC on port 4001 of every interface)")
	cmd.Flags().StringArrayVar(&cfg.Announce, "announce", nil, "multiaddr clients should use to reach this relay, if not the listen addresses (repeatable)")
	cmd.Flags().StringVar(&cfg.DataDir, "data", "", "directory for the relay's identity")
	cmd.Flags().StringVar(&cfg.Redis, "redis", "", "keep rendezvous state in Redis (redis://host:port/db), shared by several relays")
	cmd.Flags().StringVar(&cfg.Metrics, "metrics", "", "serve /metrics and /healthz on this address, e.g. 127.0.0.1:9090")
	cmd.Flags().IntVar(&maxReservations, "max-reservations", 0, fmt.Sprintf("devices that may hold a slot at once (default %d)", relay.DefaultMaxReservations))
	cmd.Flags().DurationVar(&ttl, "code-ttl", 0, "how long a code waits for its receiver (default 10m)")
	cmd.Flags().IntVar(&cfg.MaxReservationsPerIP, "max-reservations-per-ip", 0, "slots one IP address may hold at once (default 64)")
	cmd.Flags().IntVar(&cfg.IPBurst, "ip-burst", 0, "rendezvous requests one IP address may make in a burst (default 100; refilled at --ip-rate per second)")
	cmd.Flags().Float64Var(&cfg.IPRate, "ip-rate", 0, "rendezvous requests per second one IP address may make on average (default 10)")
	cmd.Flags().IntVar(&cfg.MaxNameplatesPerPeer, "max-codes-per-device", 0, "codes one device may hold registered at once; one IP address as many as --max-reservations-per-ip (default 4)")
	cmd.Flags().IntVar(&cfg.MaxClaims, "max-claims-per-code", 0, "receivers that may look up one code (from one IP address all but one at most); pairing decides which had it (default 3)")
	cmd.Flags().IntVar(&cfg.MaxClaimsPerPeer, "max-claims-per-device", 0, "codes one device may hold looked up at once; one IP address as many as --max-reservations-per-ip (default 4)")
	cmd.Flags().BoolVar(&withVault, "vault", false, "also keep devices' end-to-end encrypted backups (ferry backup) on this relay")
	vcfg.flags(cmd)
	cmd.Flags().IntVar(&cfg.VaultMaxBackups, "max-backups", 0, "backups one device may keep in the vault (default 16)")
	cmd.Flags().IntVar(&cfg.VaultDeviceRequests, "vault-requests-per-device", 0, "vault requests of one device served at once; more wait (default 8)")
	cmd.Flags().IntVar(&cfg.VaultDeviceBurst, "vault-device-burst", 0, "vault requests one device may make in a burst (default 2000; refilled at --vault-device-rate per second)")
	cmd.Flags().Float64Var(&cfg.VaultDeviceRate, "vault-device-rate", 0, "vault requests per second one device may make on average; more wait (default 1000, negative: no limit)")
	return cmd
}

// vaultFlags are the ferry relay flags that only mean something with
// --vault.
var vaultFlags = []string{"vault-dir", "s3", "quota", "max-backup-size", "vault-size", "backup-ttl",
	"max-backups", "vault-requests-per-device", "vault-device-burst", "vault-device-rate"}

// defaultListen is where ferry relay listens without --listen: one port,
// so that its address stays the same across restarts.
var defaultListen = []string{"/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/udp/4001/quic-v1"}

// listenAddrs turns --listen values into multiaddrs: a multiaddr as it is,
// HOST:PORT (an IP address and a port) as TCP and QUIC on it; none, the
// default.
func listenAddrs(flags []string) ([]string, error) {
	if len(flags) == 0 {
		return slices.Clone(defaultListen), nil
	}
	const example = "give a multiaddr such as /ip4/0.0.0.0/tcp/4001, or HOST:PORT such as 127.0.0.1:4001"
	var out []string
	for _, f := range flags {
		if strings.HasPrefix(f, "/") {
			if _, err := multiaddr.NewMultiaddr(f); err != nil {
				return nil, fmt.Errorf("--listen %q is not a multiaddr (%v): %s", f, err, example)
			}
			out = append(out, f)
			continue
		}
		host, port, err := net.SplitHostPort(f)
		if err != nil {
			return nil, fmt.Errorf("--listen %q: %s", f, example)
		}
		ip, err := netip.ParseAddr(host)
		if err != nil || ip.Zone() != "" {
			return nil, fmt.Errorf("--listen %q: %q is not an IP address (a name is not resolved here): %s", f, host, example)
		}
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("--listen %q: %q is not a port (0 to 65535): %s", f, port, example)
		}
		proto := "ip4"
		if ip.Is6() && !ip.Is4In6() {
			proto = "ip6"
		}
		ip = ip.Unmap()
		out = append(out, fmt.Sprintf("/%s/%s/tcp/%d", proto, ip, n), fmt.Sprintf("/%s/%s/udp/%d/quic-v1", proto, ip, n))
	}
	return out, nil
}
