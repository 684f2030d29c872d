variable "subscription_id" {
  description = "Azure subscription to deploy into"
  type        = string
}

variable "name" {
  description = "Prefix for every resource"
  type        = string
  default     = "teeaspire"
}

variable "location" {
  description = "Azure region with DCesv5 (TDX) capacity, e.g. westeurope, northeurope, eastus2, centralus"
  type        = string
  default     = "westeurope"
}

variable "vm_size" {
  description = "Standard_DC4es_v5 (Intel TDX, 4 vCPU, 16 GiB). For a GPU TEE later: Standard_NCC40ads_H100_v5 (AMD SEV-SNP + H100 confidential computing)"
  type        = string
  default     = "Standard_DC4es_v5"
}

variable "os_disk_size_gb" {
  description = "OS disk; holds Docker volumes (Ollama models: ~6 GB for deepseek-r1:1.5b + 7b)"
  type        = number
  default     = 64
}

variable "disk_encryption_set_id" {
  description = "Customer-managed key for confidential disk encryption (a Disk Encryption Set of type ConfidentialVmEncryptedWithCustomerKey). Empty: platform-managed key"
  type        = string
  default     = ""
}

variable "admin_username" {
  type    = string
  default = "teeadmin"
}

variable "admin_ssh_public_key" {
  description = "SSH public key for the admin user (used by `aspire deploy` with DOCKER_HOST=ssh://…)"
  type        = string
}

variable "admin_ssh_cidr" {
  description = "Source range allowed to reach SSH (port 22). Empty: no inbound port at all — reach the VM over the Cloudflare tunnel (cloudflared access ssh) or Azure Bastion"
  type        = string
  default     = ""
}

variable "cloudflare_tunnel_token" {
  description = "Token of the Cloudflare tunnel that publishes the gateway (outbound only; no inbound port needed)"
  type        = string
  sensitive   = true
}

variable "tags" {
  type    = map(string)
  default = { project = "teeaspire" }
}
