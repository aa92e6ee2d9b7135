"""All tables of the OMS. Import from here."""
from .catalog import Product, StockMove
from .complaints import Complaint, ComplaintAttachment, ComplaintMessage, Upload
from .documents import Document, DocumentCounter
from .forecasts import ForecastRun, ForecastSeries
from .inbound import InboundEvent, UnmatchedEvent
from .orders import Customer, Order, OrderLine, TimelineEvent, order_number
from .outbox import OutboxMessage
from .payments import Payment, PaymentEvent, Refund
from .shipments import Shipment, ShipmentEvent, ShipmentLine
from .staff import ROLES, StaffUser

__all__ = [
    "Complaint", "ComplaintAttachment", "ComplaintMessage", "Customer", "Document", "DocumentCounter",
    "ForecastRun", "ForecastSeries", "InboundEvent", "Order", "OrderLine", "OutboxMessage",
    "Payment", "PaymentEvent", "Product", "ROLES", "Refund",
    "Shipment", "ShipmentEvent", "ShipmentLine", "StaffUser", "StockMove", "TimelineEvent", "UnmatchedEvent", "Upload",
    "order_number",
]
