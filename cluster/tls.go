package cluster

// The inter-host API's identities: a cluster's own certificate authority
// and a certificate for each host, checked both ways (mutual TLS 1.3).
// A host's name is in its certificate as the URI tend://host/NAME, so a
// caller knows it reached the host it meant and a server knows which host
// calls; host names need not be DNS names, so no DNS name is checked.
//
// keys_dir, as tend keygen writes it and the agent reads it:
//
//	gossip.key           the gossip keys (see the agent)
//	ca.crt               the cluster's CA certificate: every host needs it
//	ca.key               the CA's private key: a host that has it issues
//	                     its own certificate when it starts
//	hosts/NAME.crt, .key a certificate issued for host NAME (tend keygen
//	                     --host NAME), for fleets that keep ca.key off
//	                     their hosts
//
// A certificate a host issued itself is kept in its state directory and
// renewed when it starts, or while it runs, with less than renewBefore
// left.

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tendhq/tend/internal/atomicfile"
)

// Files in keys_dir.
const (
	CACertFile = "ca.crt"
	CAKeyFile  = "ca.key"
	HostsDir   = "hosts"
)

// Lifetimes.
const (
	caLifetime   = 10 * 365 * 24 * time.Hour
	hostLifetime = 365 * 24 * time.Hour
	renewBefore  = 30 * 24 * time.Hour
	clockSkew    = time.Hour // certificates are valid from an hour before they are made
)

// hostURI is the name a host's certificate proves.
func hostURI(host string) *url.URL {
	return &url.URL{Scheme: "tend", Host: "host", Path: "/" + host}
}

// certHost is the host name a certificate proves, or "".
func certHost(c *x509.Certificate) string {
	for _, u := range c.URIs {
		if u.Scheme == "tend" && u.Host == "host" && len(u.Path) > 1 {
			return u.Path[1:]
		}
	}
	return ""
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

func encodeKey(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// NewCA makes a cluster's certificate authority: a P-256 key and a
// self-signed certificate valid for ten years, both PEM.
func NewCA(clusterName string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, err
	}
	cn := "tend cluster CA"
	if clusterName != "" {
		cn += " " + clusterName
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"tend"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(caLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	return sign(tmpl, tmpl, key, key)
}

// IssueHostCert makes host's certificate, signed by the CA, good for
// serving and for calling other hosts, valid for a year.
func IssueHostCert(caCertPEM, caKeyPEM []byte, host string, now time.Time) (certPEM, keyPEM []byte, err error) {
	if host == "" {
		return nil, nil, errors.New("a host certificate needs a host name")
	}
	ca, err := parseCert(caCertPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("CA certificate: %w", err)
	}
	caKey, err := parseKey(caKeyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("CA key: %w", err)
	}
	if !publicKeysEqual(ca.PublicKey, caKey.Public()) {
		return nil, nil, errors.New("the CA key does not belong to the CA certificate")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: host, Organization: []string{"tend"}},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     now.Add(hostLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:         []*url.URL{hostURI(host)},
	}
	if tmpl.NotAfter.After(ca.NotAfter) {
		tmpl.NotAfter = ca.NotAfter
	}
	return sign(tmpl, ca, key, caKey)
}

// sign makes the certificate tmpl for key, signed by parent's key, both
// PEM.
func sign(tmpl, parent *x509.Certificate, key *ecdsa.PrivateKey, parentKey crypto.Signer) (certPEM, keyPEM []byte, err error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		return nil, nil, err
	}
	if keyPEM, err = encodeKey(key); err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}

func parseCert(data []byte) (*x509.Certificate, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(b.Bytes)
}

func parseKey(data []byte) (crypto.Signer, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "PRIVATE KEY" {
		return nil, errors.New("no PEM private key (PKCS #8)")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("a %T cannot sign", k)
	}
	return s, nil
}

// ErrNoCA says keys_dir holds no cluster CA: the inter-host API is off.
var ErrNoCA = errors.New("no cluster CA (" + CACertFile + "); make one with tend keygen")

// Identity is this host's side of mutual TLS: the cluster's CA and this
// host's certificate. It is safe for concurrent use.
type Identity struct {
	host  string
	roots *x509.CertPool
	ca    []byte // CA certificate PEM
	caKey []byte // CA key PEM when this host issues its own certificate
	path  string // where a certificate it issued itself is kept

	mu   sync.Mutex
	cert *tls.Certificate
	now  func() time.Time
}

// LoadIdentity reads host's identity from keysDir, issuing and keeping a
// certificate in stateDir when keysDir holds the CA's key and no
// certificate for host. ErrNoCA when keysDir holds no CA.
func LoadIdentity(keysDir, stateDir, host string) (*Identity, error) {
	return loadIdentity(keysDir, stateDir, host, time.Now)
}

func loadIdentity(keysDir, stateDir, host string, now func() time.Time) (*Identity, error) {
	caPath := filepath.Join(keysDir, CACertFile)
	caPEM, err := os.ReadFile(caPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", keysDir, ErrNoCA)
	}
	if err != nil {
		return nil, err
	}
	ca, err := parseCert(caPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", caPath, err)
	}
	if !ca.IsCA {
		return nil, fmt.Errorf("%s: not a CA certificate", caPath)
	}
	id := &Identity{host: host, roots: x509.NewCertPool(), ca: caPEM, now: now}
	id.roots.AddCert(ca)

	certPath := filepath.Join(keysDir, HostsDir, host+".crt")
	if filepath.Base(host) != host || host == "." || host == ".." {
		return nil, fmt.Errorf("host name %q cannot name a file in %s", host, filepath.Join(keysDir, HostsDir))
	}
	if certPEM, err := os.ReadFile(certPath); err == nil {
		keyPath := filepath.Join(keysDir, HostsDir, host+".key")
		keyPEM, err := readSecret(keyPath)
		if err != nil {
			return nil, err
		}
		c, err := id.check(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", certPath, err)
		}
		id.cert = c
		return id, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}

	caKeyPath := filepath.Join(keysDir, CAKeyFile)
	if id.caKey, err = readSecret(caKeyPath); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s holds neither %s nor %s: issue this host's certificate with tend keygen --host %s", keysDir, filepath.Join(HostsDir, host+".crt"), CAKeyFile, host)
		}
		return nil, err
	}
	id.path = filepath.Join(stateDir, "host")
	if certPEM, err := os.ReadFile(id.path + ".crt"); err == nil {
		if keyPEM, err := os.ReadFile(id.path + ".key"); err == nil {
			if c, err := id.check(certPEM, keyPEM); err == nil && !id.dueForRenewal(c) {
				id.cert = c
				return id, nil
			}
		}
	}
	if _, err := id.renew(); err != nil {
		return nil, err
	}
	return id, nil
}

// readSecret reads a file of secrets, refusing one that others than its
// owner may read, as ssh refuses such a key.
func readSecret(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if m := fi.Mode().Perm(); m&0o077 != 0 {
		return nil, fmt.Errorf("%s is readable by others (mode %04o): a secret must be the owner's alone (chmod 600 %s)", path, m, path)
	}
	return io.ReadAll(f)
}

// check parses a certificate and key and verifies that the certificate is
// the host's, from the cluster's CA, and in date.
func (id *Identity) check(certPEM, keyPEM []byte) (*tls.Certificate, error) {
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	if err := id.verify(c.Leaf, x509.ExtKeyUsageServerAuth); err != nil {
		return nil, err
	}
	if got := certHost(c.Leaf); got != id.host {
		return nil, fmt.Errorf("the certificate is host %q's, not %q's", got, id.host)
	}
	return &c, nil
}

func (id *Identity) dueForRenewal(c *tls.Certificate) bool {
	return id.caKey != nil && id.now().Add(renewBefore).After(c.Leaf.NotAfter)
}

// renew issues a new certificate for this host and keeps it.
func (id *Identity) renew() (*tls.Certificate, error) {
	certPEM, keyPEM, err := IssueHostCert(id.ca, id.caKey, id.host, id.now())
	if err != nil {
		return nil, err
	}
	c, err := id.check(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(id.path), 0o700); err != nil {
		return nil, err
	}
	if err := atomicfile.Write(id.path+".key", keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := atomicfile.Write(id.path+".crt", certPEM, 0o644); err != nil {
		return nil, err
	}
	id.cert = c
	return c, nil
}

// certificate is the certificate to present, renewed first when due.
func (id *Identity) certificate() (*tls.Certificate, error) {
	id.mu.Lock()
	defer id.mu.Unlock()
	if id.dueForRenewal(id.cert) {
		if c, err := id.renew(); err == nil {
			return c, nil
		}
	}
	return id.cert, nil
}

// NotAfter is when the certificate this host presents ends (a certificate
// it issued itself is renewed before then).
func (id *Identity) NotAfter() time.Time {
	id.mu.Lock()
	defer id.mu.Unlock()
	return id.cert.Leaf.NotAfter
}

// Host is the host the identity is.
func (id *Identity) Host() string { return id.host }

// verify checks that c chains to the cluster's CA for usage, now.
func (id *Identity) verify(c *x509.Certificate, usage x509.ExtKeyUsage) error {
	_, err := c.Verify(x509.VerifyOptions{Roots: id.roots, CurrentTime: id.now(), KeyUsages: []x509.ExtKeyUsage{usage}})
	return err
}

// verifyPeer checks a peer's certificate chain and returns the host it
// proves.
func (id *Identity) verifyPeer(raw [][]byte, usage x509.ExtKeyUsage) (string, error) {
	if len(raw) == 0 {
		return "", errors.New("no certificate")
	}
	leaf, err := x509.ParseCertificate(raw[0])
	if err != nil {
		return "", err
	}
	// Host certificates are signed by the CA itself: no intermediates.
	if err := id.verify(leaf, usage); err != nil {
		return "", err
	}
	h := certHost(leaf)
	if h == "" {
		return "", errors.New("the certificate names no tend host")
	}
	return h, nil
}

// ServerTLS is the configuration of this host's inter-host API: TLS 1.3,
// and only callers with a host certificate of the cluster's CA.
func (id *Identity) ServerTLS() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		ClientAuth: tls.RequireAnyClientCert,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return id.certificate()
		},
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			_, err := id.verifyPeer(raw, x509.ExtKeyUsageClientAuth)
			return err
		},
	}
}

// ClientTLS is the configuration for calling host's inter-host API: it
// presents this host's certificate and accepts only host's, from the
// cluster's CA.
func (id *Identity) ClientTLS(host string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return id.certificate()
		},
		// The name checked is the host's URI, below, not a DNS name.
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			got, err := id.verifyPeer(raw, x509.ExtKeyUsageServerAuth)
			if err != nil {
				return err
			}
			if got != host {
				return fmt.Errorf("the agent that answered is host %q, not %q", got, host)
			}
			return nil
		},
	}
}

// PeerHost is the host whose certificate a connection of the inter-host
// API presented, or "".
func PeerHost(cs *tls.ConnectionState) string {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return ""
	}
	return certHost(cs.PeerCertificates[0])
}

// HostURL is the base URL of host's inter-host API for Transport. The
// host name is hex in the URL's host, so that any name makes a URL and
// each host gets its own connections.
func HostURL(host string) *url.URL {
	return &url.URL{Scheme: "https", Host: hex.EncodeToString([]byte(host)) + hostURLSuffix}
}

const hostURLSuffix = ".tend:443"

// hostOfURL reads the host name back from HostURL's host:port.
func hostOfURL(hostport string) (string, error) {
	h, ok := strings.CutSuffix(hostport, hostURLSuffix)
	if !ok {
		return "", fmt.Errorf("%q is not a tend host's URL", hostport)
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return "", fmt.Errorf("%q is not a tend host's URL", hostport)
	}
	return string(b), nil
}

// Timeouts of calls between hosts.
const (
	apiDialTimeout   = 3 * time.Second
	apiHeaderTimeout = 30 * time.Second // a request is answered within it; streams then go on
)

// Transport calls other hosts' inter-host APIs over mutual TLS: a
// request's URL is HostURL(host), and addr says where host listens.
func (id *Identity) Transport(addr func(host string) (string, error)) *http.Transport {
	d := &net.Dialer{Timeout: apiDialTimeout, KeepAlive: 15 * time.Second}
	return &http.Transport{
		DialTLSContext: func(ctx context.Context, _, hostport string) (net.Conn, error) {
			host, err := hostOfURL(hostport)
			if err != nil {
				return nil, err
			}
			a, err := addr(host)
			if err != nil {
				return nil, err
			}
			raw, err := d.DialContext(ctx, "tcp", a)
			if err != nil {
				return nil, err
			}
			// The handshake is bounded too: a peer that takes the
			// connection and says nothing must not hold the caller.
			c := tls.Client(raw, id.ClientTLS(host))
			hctx, cancel := context.WithTimeout(ctx, apiDialTimeout)
			defer cancel()
			if err := c.HandshakeContext(hctx); err != nil {
				raw.Close()
				return nil, err
			}
			return c, nil
		},
		ResponseHeaderTimeout:  apiHeaderTimeout,
		MaxResponseHeaderBytes: 64 << 10,
		IdleConnTimeout:        90 * time.Second,
		MaxIdleConnsPerHost:    4,
	}
}
