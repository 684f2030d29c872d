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
  description = "debug profile only: source range allowed to reach SSH (port 22). Ignored when access_profile is locked"
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

variable "access_profile" {
  description = "locked (default): no SSH, no admin docker group, no VM extensions / Run Command. debug: SSH (from admin_ssh_cidr) and extensions on — measured into the app PCR, shown in every report, refused by default policies"
  type        = string
  default     = "locked"
  validation {
    condition     = contains(["locked", "debug"], var.access_profile)
    error_message = "access_profile is locked or debug."
  }
}

variable "app_pcr" {
  description = "The vTPM PCR the measured launch extends (deploy/README.md: why 13)"
  type        = number
  default     = 13
}

variable "release_compose_path" {
  description = "The release's compose file with images pinned by digest (scripts/release.sh output: docker-compose.release.yaml)"
  type        = string
  default     = ""
}

variable "release_env_path" {
  description = "The release's non-secret configuration (release.env), measured at launch"
  type        = string
  default     = ""
}

variable "release_manifest_path" {
  description = "The release manifest (scripts/release.sh output: release-manifest.json): the launch refuses a compose model other than its services"
  type        = string
  default     = ""
}

variable "release_secrets_env" {
  description = "The secrets .env (master key, internal token): read by compose, not measured, never in a file in the repository"
  type        = string
  default     = ""
  sensitive   = true
}
