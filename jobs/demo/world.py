"""The demo's made-up world: countries, towns, legal forms, trades, names and host names.

Owns the vocabulary `jobs.demo.dataset` draws its subscribers from, so that the demo's organisations
and domains read like a real CA's customers. Data only: it must not generate rows itself.
"""

from __future__ import annotations


def words(text: str, sep: str | None = None) -> tuple[str, ...]:
    return tuple(text.split(sep))


OPERATORS = tuple(
    f"ra-operator-{w}" for w in words("maria jlopez akowalski pgarcia lmartin ssanchez")
)

# fmt: off
FOREIGNTLDS = (0, 50, 15, 35)
COUNTRIES = {  # country: (weight, localities, legal forms, weights of .es .com .net .eu)
    "ES": (70, "Madrid|Barcelona|Valencia|Sevilla|Bilbao|Zaragoza|Málaga|A Coruña|Valladolid",
           "S.L. S.A. S.L.U S.COOP.", (60, 25, 5, 10)),
    "PT": (8, "Lisboa|Porto|Braga", "Lda. S.A.", FOREIGNTLDS),
    "FR": (7, "Paris|Lyon|Toulouse", "SAS SARL", FOREIGNTLDS),
    "DE": (5, "Berlin|München|Hamburg", "GmbH AG", FOREIGNTLDS),
    "IT": (5, "Milano|Roma|Torino", "S.r.l. S.p.A.", FOREIGNTLDS),
    "NL": (3, "Amsterdam|Rotterdam", "B.V.", FOREIGNTLDS),
    "IE": (2, "Dublin|Cork", "Ltd", FOREIGNTLDS),
}
TLDS = ("es", "com", "net", "eu")
TRADES = words(
    "Transportes Construcciones Clínica Hoteles Bodegas Talleres Seguros Inmobiliaria Consultoría "
    "Distribuciones Ingeniería Laboratorios Editorial Logística Energía Servicios Academia "
    "Farmacia Gestoría Viajes Muebles Ópticas Textil Automoción Alimentación")
WORDS = words("Digital Systems Logistics Partners Group Solutions Media Software Analytics "
                "Foods Mobility Networks")
NAMES = words(
    "Martínez Iberia Levante Atlántico Sierra Galán Ortega Rivera Montes Navarro Meridiano "
    "Alborada Triana Albufera Moncayo Cierzo Duero Tajo Mediterráneo Cantábrico Almudena Pirineo "
    "Brezo Olivar Salinas Vidal Ferrer Soler Castell Quintana Arenal Horizonte Nexo Vértice Ágora "
    "Zenit Litoral Cumbre")
# The host names of one certificate, comma-separated; "@" is the bare domain.
SERVICES = tuple(words(service, ",") for service in words(
    "@,www mail,webmail,autodiscover smtp,imap shop tienda,www.tienda api api-pre portal vpn "
    "intranet extranet app app-test login,sso crm erp b2b citas clientes pagos static,cdn blog "
    "soporte helpdesk sftp files git jira wiki moodle reservas tpv proveedores factura backup "
    "monitor grafana correo owa remote"))
LATE_REASONS = (  # reason code, weight, comments
    (4, 50, ("Superseded by renewal", "Replaced: new certificate installed")),
    (5, 35, ("Service decommissioned", "Customer request: domain no longer in use")),
    (3, 10, ("Organisation details changed",)),
    (0, 5, ("Customer request",)),
)
# fmt: on
