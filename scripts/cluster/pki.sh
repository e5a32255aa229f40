# shellcheck shell=bash
# Certificates and kubeconfigs of the real cluster, made with openssl (sourced by up.sh).
# One CA signs every serving and client certificate; identities follow kubeadm's, so
# the upstream bootstrap RBAC (system:kube-controller-manager, system:node:NAME, ...)
# applies unchanged.

# pki_cert NAME CN ORG SANS: a key and a certificate signed by the cluster CA.
# SANS is an openssl subjectAltName list ("DNS:a,IP:1.2.3.4") or empty for a client.
pki_cert() {
  local name="$1" cn="$2" org="$3" sans="$4" dir="$STATE/pki"
  [ -f "$dir/$name.crt" ] && return
  local subj="/CN=$cn"
  [ -n "$org" ] && subj="/O=$org$subj"
  local ext="$dir/$name.ext"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [ -n "$sans" ]; then
      echo "extendedKeyUsage=serverAuth,clientAuth"
      echo "subjectAltName=$sans"
    else
      echo "extendedKeyUsage=clientAuth"
    fi
  } > "$ext"
  openssl req -new -newkey rsa:2048 -nodes -keyout "$dir/$name.key" -subj "$subj" -out "$dir/$name.csr" 2>/dev/null
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$ext" -out "$dir/$name.crt" 2>/dev/null
  rm -f "$dir/$name.csr" "$ext"
  chmod 0600 "$dir/$name.key"
}

# pki_kubeconfig NAME USER CERT: a kubeconfig for USER authenticating with pki/CERT.{crt,key}.
pki_kubeconfig() {
  local name="$1" user="$2" cert="$3"
  cat > "$STATE/$name.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: berth-cluster
  cluster:
    server: https://$NODE_IP:$APISERVER_PORT
    certificate-authority: $STATE/pki/ca.crt
users:
- name: $user
  user:
    client-certificate: $STATE/pki/$cert.crt
    client-key: $STATE/pki/$cert.key
contexts:
- name: $user@berth-cluster
  context: {cluster: berth-cluster, user: $user}
current-context: $user@berth-cluster
EOF
  chmod 0600 "$STATE/$name.kubeconfig"
}

pki_all() {
  local dir="$STATE/pki"
  mkdir -p "$dir"
  chmod 0700 "$dir"
  if [ ! -f "$dir/ca.crt" ]; then
    openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$dir/ca.key" -subj "/CN=berth-cluster-ca" \
      -days 3650 -sha256 -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" -out "$dir/ca.crt" 2>/dev/null
  fi
  # Service account tokens are signed with this key pair.
  if [ ! -f "$dir/sa.key" ]; then
    openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
    openssl rsa -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null
  fi
  local svc="DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  pki_cert apiserver kube-apiserver "" "$svc,DNS:localhost,IP:127.0.0.1,IP:$NODE_IP,IP:$KUBERNETES_SERVICE_IP"
  pki_cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters ""
  pki_cert admin kubernetes-admin system:masters ""
  pki_cert controller-manager system:kube-controller-manager "" ""
  pki_cert scheduler system:kube-scheduler "" ""
  pki_cert kube-proxy system:kube-proxy "" ""
  pki_cert kubelet "system:node:$NODE_NAME" system:nodes ""
  pki_cert kubelet-serving "system:node:$NODE_NAME" system:nodes "DNS:$NODE_NAME,IP:$NODE_IP,IP:127.0.0.1"
  pki_kubeconfig admin kubernetes-admin admin
  pki_kubeconfig controller-manager system:kube-controller-manager controller-manager
  pki_kubeconfig scheduler system:kube-scheduler scheduler
  pki_kubeconfig kube-proxy system:kube-proxy kube-proxy
  pki_kubeconfig kubelet "system:node:$NODE_NAME" kubelet
}
