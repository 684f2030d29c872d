# A confidential VM (Intel TDX) with vTPM and secure boot, an Ubuntu confidential image, confidential
# OS-disk encryption, no public inbound port (SSH only in the measured debug profile), VM extensions
# off, and cloud-init that installs Docker, tpm2-tools, the Cloudflare tunnel and the measured launch.

locals {
  debug = var.access_profile == "debug"
}

resource "azurerm_resource_group" "this" {
  name     = "${var.name}-rg"
  location = var.location
  tags     = var.tags
}

resource "azurerm_virtual_network" "this" {
  name                = "${var.name}-vnet"
  address_space       = ["10.42.0.0/16"]
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  tags                = var.tags
}

resource "azurerm_subnet" "vm" {
  name                 = "vm"
  resource_group_name  = azurerm_resource_group.this.name
  virtual_network_name = azurerm_virtual_network.this.name
  address_prefixes     = ["10.42.1.0/24"]
}

resource "azurerm_network_security_group" "vm" {
  name                = "${var.name}-nsg"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  tags                = var.tags

  # The gateway is published through the Cloudflare tunnel (outbound connections only).
  # Everything inbound from the internet is denied; SSH only from admin_ssh_cidr when given.
  dynamic "security_rule" {
    for_each = local.debug && var.admin_ssh_cidr != "" ? [var.admin_ssh_cidr] : []
    content {
      name                       = "ssh-admin"
      priority                   = 100
      direction                  = "Inbound"
      access                     = "Allow"
      protocol                   = "Tcp"
      source_port_range          = "*"
      destination_port_range     = "22"
      source_address_prefix      = security_rule.value
      destination_address_prefix = "*"
    }
  }

  security_rule {
    name                       = "deny-internet-inbound"
    priority                   = 4000
    direction                  = "Inbound"
    access                     = "Deny"
    protocol                   = "*"
    source_port_range          = "*"
    destination_port_range     = "*"
    source_address_prefix      = "Internet"
    destination_address_prefix = "*"
  }
}

resource "azurerm_subnet_network_security_group_association" "vm" {
  subnet_id                 = azurerm_subnet.vm.id
  network_security_group_id = azurerm_network_security_group.vm.id
}

# A public IP only when SSH is opened to an admin range; the tunnel needs none.
resource "azurerm_public_ip" "vm" {
  count               = local.debug && var.admin_ssh_cidr != "" ? 1 : 0
  name                = "${var.name}-ip"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  allocation_method   = "Static"
  sku                 = "Standard"
  tags                = var.tags
}

# Outbound internet (model pulls, Intel/Azure attestation endpoints, the tunnel) without a public IP on the VM.
resource "azurerm_public_ip" "nat" {
  name                = "${var.name}-nat-ip"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  allocation_method   = "Static"
  sku                 = "Standard"
  tags                = var.tags
}

resource "azurerm_nat_gateway" "this" {
  name                = "${var.name}-nat"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  sku_name            = "Standard"
  tags                = var.tags
}

resource "azurerm_nat_gateway_public_ip_association" "this" {
  nat_gateway_id       = azurerm_nat_gateway.this.id
  public_ip_address_id = azurerm_public_ip.nat.id
}

resource "azurerm_subnet_nat_gateway_association" "vm" {
  subnet_id      = azurerm_subnet.vm.id
  nat_gateway_id = azurerm_nat_gateway.this.id
}

resource "azurerm_network_interface" "vm" {
  name                = "${var.name}-nic"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  tags                = var.tags

  ip_configuration {
    name                          = "primary"
    subnet_id                     = azurerm_subnet.vm.id
    private_ip_address_allocation = "Dynamic"
    public_ip_address_id          = length(azurerm_public_ip.vm) == 0 ? null : azurerm_public_ip.vm[0].id
  }
}

resource "azurerm_linux_virtual_machine" "tee" {
  name                  = "${var.name}-vm"
  location              = azurerm_resource_group.this.location
  resource_group_name   = azurerm_resource_group.this.name
  size                  = var.vm_size
  admin_username        = var.admin_username
  network_interface_ids = [azurerm_network_interface.vm.id]
  tags                  = var.tags

  # Confidential VM: vTPM and secure boot on; the OS disk and VM guest state are encrypted with a
  # key bound to the vTPM (platform-managed, or the customer's Disk Encryption Set).
  vtpm_enabled        = true
  secure_boot_enabled = true

  admin_ssh_key {
    username   = var.admin_username
    public_key = var.admin_ssh_public_key
  }
  disable_password_authentication = true

  os_disk {
    caching                          = "ReadWrite"
    storage_account_type             = "Premium_LRS"
    disk_size_gb                     = var.os_disk_size_gb
    security_encryption_type         = "DiskWithVMGuestState"
    secure_vm_disk_encryption_set_id = var.disk_encryption_set_id == "" ? null : var.disk_encryption_set_id
  }

  # Canonical's confidential-VM image (Ubuntu 22.04 LTS, CVM kernel with TDX guest support).
  source_image_reference {
    publisher = "Canonical"
    offer     = "0001-com-ubuntu-confidential-vm-jammy"
    sku       = "22_04-lts-cvm"
    version   = "latest"
  }

  # Locked by default: no VM agent extensions / Run Command. The debug profile allows them — and
  # the measured launch records it, so reports show it and default policies refuse it.
  allow_extension_operations = local.debug

  # The release and the tunnel token arrive in custom_data (no login needed). Changing it replaces
  # the VM: one release per boot, which is what the measured launch expects.
  custom_data = base64encode(templatefile("${path.module}/../cloud-init.yaml", {
    admin_username          = var.admin_username
    cloudflare_tunnel_token = var.cloudflare_tunnel_token
    access_profile          = var.access_profile
    app_pcr                 = var.app_pcr
    launch_events_b64       = filebase64("${path.module}/../launch/app-events.sh")
    launch_sh_b64           = filebase64("${path.module}/../launch/measured-launch.sh")
    watch_sh_b64            = filebase64("${path.module}/../launch/app-watch.sh")
    launch_unit_b64         = filebase64("${path.module}/../launch/tee-aspire-launch.service")
    watch_unit_b64          = filebase64("${path.module}/../launch/tee-aspire-watch.service")
    compose_b64             = var.release_compose_path == "" ? "" : filebase64(var.release_compose_path)
    release_env_b64         = var.release_env_path == "" ? "" : filebase64(var.release_env_path)
    manifest_b64            = var.release_manifest_path == "" ? "" : filebase64(var.release_manifest_path)
    secrets_env_b64         = base64encode(var.release_secrets_env)
  }))

  identity {
    type = "SystemAssigned"
  }
}
